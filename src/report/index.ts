/** The training report: report.html for a run directory, the writer the trainer drives, and the end-of-run summary. */
export { buildReport, REPORT_FILE, type BuildReportOptions } from './report';
export { ReportWriter, type ReportWriterOptions } from './writer';
export { formatSummary, formatLosses, loadRunSummary, type RunSummary, type SummaryFormat } from './summary';
export { readRunLog, resolveRunDir, RunDirError, type RunLog } from './runlog';
export { overviewOf, type RunOverview, type RunStatus } from './overview';

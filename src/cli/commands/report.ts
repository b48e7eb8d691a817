/** `cgtrain report RUN_DIR [--open]`: rebuilds runs/<name>/report.html from the run's log and samples. */
import { promises as fs } from 'fs';
import * as path from 'path';
import { pathToFileURL } from 'url';
import type { Argv, CommandModule } from 'yargs';
import { buildReport } from '../../report/report';
import { resolveRunDir } from '../../report/runlog';
import { formatBytes } from '../../report/format';

interface ReportArgs {
  run: string;
  open: boolean;
}

export const reportCommand: CommandModule<object, ReportArgs> = {
  command: 'report <run>',
  describe: 'rebuild the HTML training report (loss curves, samples, metrics, models) of a run',
  builder: (y: Argv<object>) =>
    y
      .positional('run', { type: 'string', demandOption: true, describe: 'run directory (runs/<name>) or run name' })
      .option('open', { type: 'boolean', default: false, describe: 'print the report as a file:// URL to open in a browser' })
      .example('$0 report runs/quick', 'write runs/quick/report.html')
      .example('$0 report quick --open', 'the same, then print its file:// URL') as Argv<ReportArgs>,
  handler: async (args) => {
    const runDir = await resolveRunDir(args.run);
    const file = await buildReport(runDir);
    const { size } = await fs.stat(file);
    if (args.open) {
      process.stdout.write(`${pathToFileURL(file).href}\n`);
    } else {
      process.stdout.write(`cgtrain: wrote ${path.relative(process.cwd(), file) || file} (${formatBytes(size)})\n`);
    }
  },
};

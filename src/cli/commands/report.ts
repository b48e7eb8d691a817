/**
 * `cgtrain report RUN_DIR [--open] [--tensorboard]`: rebuilds runs/<name>/report.html from the
 * run's log and samples, and with --tensorboard writes its TensorBoard events from the log too.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { pathToFileURL } from 'url';
import type { Argv, CommandModule } from 'yargs';
import { buildReport } from '../../report/report';
import { resolveRunDir } from '../../report/runlog';
import { formatBytes } from '../../report/format';
import { writeEventsFromLog } from '../../report/tensorboard';

interface ReportArgs {
  run: string;
  open: boolean;
  tensorboard: boolean;
}

export const reportCommand: CommandModule<object, ReportArgs> = {
  command: 'report <run>',
  describe: 'rebuild the HTML training report (loss curves, samples, metrics, models) of a run',
  builder: (y: Argv<object>) =>
    y
      .positional('run', { type: 'string', demandOption: true, describe: 'run directory (runs/<name>) or run name' })
      .option('open', { type: 'boolean', default: false, describe: 'print the report as a file:// URL to open in a browser' })
      .option('tensorboard', {
        type: 'boolean', default: false,
        describe: 'also write the run\'s TensorBoard event file from log.jsonl, for a run trained without --tensorboard (replaces the one an earlier call wrote)',
      })
      .example('$0 report runs/quick', 'write runs/quick/report.html')
      .example('$0 report quick --open', 'the same, then print its file:// URL')
      .example('$0 report quick --tensorboard', 'also write runs/quick/events.out.tfevents.*: tensorboard --logdir runs') as Argv<ReportArgs>,
  handler: async (args) => {
    const runDir = await resolveRunDir(args.run);
    const relative = (file: string): string => path.relative(process.cwd(), file) || file;
    if (args.tensorboard) {
      const events = writeEventsFromLog(runDir);
      for (const why of events.skipped) process.stderr.write(`cgtrain: TensorBoard: skipped ${why}\n`);
      // with --open, stdout holds the report's URL alone (for a pipe into a browser)
      (args.open ? process.stderr : process.stdout).write(
        `cgtrain: wrote ${relative(events.file)} (${events.scalarPoints} scalar values, ${events.images} sample images, ` +
          `${events.sessions} training session${events.sessions === 1 ? '' : 's'}): tensorboard --logdir ${path.relative(process.cwd(), path.dirname(runDir)) || '.'}\n`,
      );
    }
    const file = await buildReport(runDir);
    const { size } = await fs.stat(file);
    if (args.open) {
      process.stdout.write(`${pathToFileURL(file).href}\n`);
    } else {
      process.stdout.write(`cgtrain: wrote ${relative(file)} (${formatBytes(size)})\n`);
    }
  },
};

/** `cgtrain runs [--runs-dir DIR] [--json]`: the runs of a runs directory, one line each. */
import type { Argv, CommandModule } from 'yargs';
import { formatRunsTable, listRuns } from '../../report/runs';

interface RunsArgs {
  'runs-dir': string;
  json: boolean;
}

export const runsCommand: CommandModule<object, RunsArgs> = {
  command: 'runs',
  describe: 'list the runs of a runs directory: status, epochs, speed, device and best evaluation',
  builder: (y: Argv<object>) =>
    y
      .option('runs-dir', { type: 'string', default: 'runs', describe: 'directory holding one sub-directory per run (as for train)' })
      .option('json', { type: 'boolean', default: false, describe: 'print the rows as JSON' })
      .example('$0 runs', 'every run in runs/, the most recently active first') as Argv<RunsArgs>,
  handler: async (args) => {
    const rows = await listRuns(args['runs-dir']);
    process.stdout.write(`${args.json ? JSON.stringify(rows, null, 2) : formatRunsTable(rows, args['runs-dir'])}\n`);
  },
};

#!/usr/bin/env node
/** The cgtrain command line: one yargs program, one module per command under src/cli/commands. */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { commands } from './commands';

export async function main(argv: string[]): Promise<void> {
  let cli = yargs(argv)
    .scriptName('cgtrain')
    .usage('$0 <command> [options]')
    .strict()
    .demandCommand(1, 'Name a command: cgtrain <command> --help shows its options.')
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((msg, err) => {
      if (err) throw err;
      process.stderr.write(`cgtrain: ${msg}\nRun 'cgtrain --help' or 'cgtrain <command> --help' for the options.\n`);
      process.exit(2);
    });
  for (const command of commands) cli = cli.command(command);
  await cli.parseAsync();
}

if (require.main === module) {
  main(hideBin(process.argv)).catch((err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`cgtrain: ${message.replace(/^cgtrain: /, '')}\n`);
    if (process.env.CGTRAIN_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    process.exit(1);
  });
}

/** Every cgtrain command, in the order `cgtrain --help` lists them. Each lives in its own file. */
import type { CommandModule } from 'yargs';
import { reportCommand } from './commands/report';
import { trainCommand } from './commands/train';
import { benchCommand } from './commands/bench';
import { dataCommand } from './commands/data';
import { exportCommand } from './commands/export';
import { translateCommand } from './commands/translate';
import { doctorCommand } from './commands/doctor';
import { evalCommand } from './commands/eval';
import { runsCommand } from './commands/runs';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [
  trainCommand,
  translateCommand,
  exportCommand,
  evalCommand,
  benchCommand,
  reportCommand,
  runsCommand,
  dataCommand,
  doctorCommand,
];

/** Every cgtrain command, in the order `cgtrain --help` lists them. Each lives in its own file. */
import type { CommandModule } from 'yargs';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [
];

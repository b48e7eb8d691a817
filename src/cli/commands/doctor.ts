/** `cgtrain doctor [--json] [--peak]`: what this machine offers cgtrain and why CUDA can or cannot run. */
import type { CommandModule } from 'yargs';
import { doctorData, doctorReport } from '../../backend/doctor';

interface DoctorArgs {
  json: boolean;
  peak: boolean;
  'peak-seconds': number;
}

export const doctorCommand: CommandModule<object, DoctorArgs> = {
  command: 'doctor',
  describe: 'show the CPU features, SIMD level, threads and CUDA status cgtrain sees',
  builder: (yargs) =>
    yargs
      .option('json', { type: 'boolean', default: false, describe: 'print the facts as JSON' })
      .option('peak', { type: 'boolean', default: false, describe: 'measure the FP32 FMA peak (GFLOP/s)' })
      .option('peak-seconds', { type: 'number', default: 0.5, describe: 'how long the peak measurement runs' }),
  handler: (args) => {
    const peakSeconds = args.peak ? args['peak-seconds'] : 0;
    if (args.json) process.stdout.write(`${JSON.stringify(doctorData({ peakSeconds }), null, 2)}\n`);
    else process.stdout.write(`${doctorReport({ peakSeconds })}\n`);
  },
};

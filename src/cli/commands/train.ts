/** `cgtrain train`: train a CycleGAN. With no options it runs the quick preset (a CPU demo). */
import type { Argv, CommandModule } from 'yargs';
import { addOptions, typedOptions } from '../../options';
import { ReportWriter } from '../../report';
import { runSession } from '../../train/session';
import type { TrainerHooks } from '../../train/trainer';
import { exportHook } from '../../export/export';
import { evaluationHook } from '../../eval/hook';

/** The evaluator, report and exporter the CLI trains with. */
export function defaultHooks(): TrainerHooks {
  let reportWriter: ReportWriter | undefined;
  return {
    // ReportWriter throttles and never throws into training; final() waits for the last build.
    report: async (runDir, final) => {
      reportWriter ??= new ReportWriter(runDir);
      if (final) await reportWriter.final();
      else reportWriter.update();
    },
    export: exportHook,
    evaluate: evaluationHook(),
  };
}

export const trainCommand: CommandModule<object, Record<string, unknown>> = {
  command: 'train',
  describe: 'train a CycleGAN (no options: the quick CPU demo, MNIST digits -> synthetic house numbers)',
  builder: (y: Argv<object>) =>
    addOptions(y)
      .example('$0 train', 'the quick demo: a few minutes on a CPU, results in runs/quick/')
      .example('$0 train --preset mnist2svhn --device cuda', 'the full MNIST -> SVHN setup')
      .example('$0 train --dataset folder --dataroot datasets/horse2zebra', "your own trainA/ trainB/ images, with the reference CycleGAN's defaults")
      .example('$0 train --name quick --continue-train', 'resume a stopped run') as Argv<Record<string, unknown>>,
  handler: async (argv) => {
    await runSession({ given: typedOptions(argv), hooks: defaultHooks(), handleSignals: true });
  },
};

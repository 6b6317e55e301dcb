/** `prl label`: PAV's Monte Carlo step labels (JSONL), plus TRL stepwise-supervision exports. */
import { Command, Option } from 'commander';
import { labelProblems, toStepwiseSupervision, type SeedStrategy } from '../../pav/labels.js';
import { openPolicy, proverRoller } from '../../pav/setup.js';
import { countReporter } from '../../util/progress.js';
import { inputError } from '../../util/errors.js';
import { writeFileAtomic } from '../../util/fs.js';
import { Rng } from '../../util/rng.js';
import { openEngineWithThreads } from '../engine.js';
import { intFlag, jsonObjectFlag, numberFlag } from '../options.js';

export function register(program: Command): void {
  program
    .command('label')
    .description('Monte Carlo step labels for a PAV verifier: n_cov seeds per prompt, n_mc rollouts from every step boundary')
    .option('--task <name>', 'arith, planted or math', 'arith')
    .option('--task-options <json>', 'task knobs as a JSON object', '{}')
    .option('--model <dir>', 'policy model folder (default: the task\'s cached warm start)')
    .option('--adapter <dir>', 'a PEFT LoRA adapter folder to apply on top of the policy model')
    .option('--prover <spec>', 'rollout policy: policy, bok:K (Q^BoK = 1-(1-Q^pi)^K), oracle:gamma=G (planted) or a model folder', 'policy')
    .addOption(new Option('--strategy <name>', 'seeds: random, or first-pit (failed rollouts from high-value states, kept to their first zero step)').choices(['random', 'first-pit']).default('random'))
    .option('--pit-threshold <q>', 'first-pit: Q_hat of a high-value state', '0.5')
    .option('--n-cov <n>', 'seed responses per prompt', '4')
    .option('--n-mc <n>', 'rollouts per prefix (paper: 20)', '16')
    .option('--problems <n>', 'prompts labelled (the first N of the split)', '64')
    .addOption(new Option('--split <name>', 'which split to label').choices(['train', 'eval']).default('train'))
    .option('--temperature <t>', 'sampling temperature of seeds and rollouts', '1')
    .option('--seed <n>', 'random seed', '0')
    .option('--threads <n>', 'kernel threads')
    .option('-q, --quiet', 'no progress output (errors and the final summary only)')
    .option('--out <file>', 'labels JSONL (one trace per line)')
    .option('--trl-hard <file>', 'also write TRL stepwise supervision with labels Q_hat >= 0.5')
    .option('--trl-soft <file>', 'also write TRL stepwise supervision with the soft labels Q_hat')
    .action(async (opts: Record<string, string | undefined>) => {
      if (opts.out === undefined) throw inputError('--out', 'required (the labels JSONL)');
      const engine = await openEngineWithThreads(opts.threads);
      try {
        const started = performance.now();
        const opened = await openPolicy(engine, opts.task!, jsonObjectFlag('--task-options', opts.taskOptions!), opts.model, opts.adapter, (line) => process.stderr.write(line + '\n'));
        const temperature = numberFlag(opts.temperature!, '--temperature', 0);
        const roller = proverRoller(opts.prover!, engine, opened, temperature);
        const problems = opened.codec.problems(opts.split as 'train' | 'eval').slice(0, intFlag(opts.problems!, '--problems', 1));
        const records = labelProblems(opened.policy, roller, opened.codec, problems, {
          nCov: intFlag(opts.nCov!, '--n-cov', 1),
          nMc: intFlag(opts.nMc!, '--n-mc', 1),
          strategy: opts.strategy as SeedStrategy,
          prover: opts.prover!,
          pitThreshold: numberFlag(opts.pitThreshold!, '--pit-threshold', 0),
          temperature,
          maxNewTokens: opened.codec.maxNewTokens,
          rng: new Rng(intFlag(opts.seed!, '--seed', 0)),
          onProgress: countReporter('label', 'problems', { quiet: opts.quiet !== undefined }),
        });
        const lines = (f: (r: (typeof records)[number]) => unknown): string => records.map((r) => JSON.stringify(f(r)) + '\n').join('');
        writeFileAtomic(opts.out, lines((r) => r));
        if (opts.trlHard !== undefined) writeFileAtomic(opts.trlHard, lines((r) => toStepwiseSupervision(r, 'hard')));
        if (opts.trlSoft !== undefined) writeFileAtomic(opts.trlSoft, lines((r) => toStepwiseSupervision(r, 'soft')));
        const pairs = records.reduce((s, r) => s + r.steps.length, 0);
        console.log(JSON.stringify({ traces: records.length, pairs, rollout_tokens: roller.generatedTokens, seconds: (performance.now() - started) / 1000, model: opened.modelDir, prover: opts.prover }));
      } finally {
        await engine.kernels.dispose();
      }
    });
}

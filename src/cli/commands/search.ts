/** `prl search`: best-of-N / majority / weighted majority / PAV beam search over a task's eval split. */
import { Command, Option } from 'commander';
import { parseOracleSpec } from '../../pav/rollers.js';
import { beamSearchCurve, oracleScorer, sampleSearch, verifierScorer, type PrefixScorer, type SearchPoint } from '../../pav/search.js';
import { openPolicy } from '../../pav/setup.js';
import { loadVerifier } from '../../pav/verifier.js';
import { countReporter } from '../../util/progress.js';
import { inputError } from '../../util/errors.js';
import { writeJsonAtomic } from '../../util/fs.js';
import { Rng } from '../../util/rng.js';
import { openEngineWithThreads } from '../engine.js';
import { intFlag, jsonObjectFlag, numberFlag } from '../options.js';

export function register(program: Command): void {
  program
    .command('search')
    .description('test-time search: accuracy against compute (generated tokens, samples) for N (or beam width B) = 2, 4, .., max')
    .option('--task <name>', 'arith, planted or math', 'arith')
    .option('--task-options <json>', 'task knobs as a JSON object', '{}')
    .option('--model <dir>', 'policy model folder (default: the task\'s cached warm start)')
    .option('--adapter <dir>', 'a PEFT LoRA adapter folder to apply on top of the policy model')
    .option('--verifier <dir>', 'verifier folder (prl verifier train): the ORM and the PAV')
    .option('--prover <spec>', 'instead of a verifier on planted: oracle:gamma=G')
    .addOption(new Option('--method <name>', 'bon (best-of-N by the ORM), maj, wmaj, beam, or all').choices(['bon', 'maj', 'wmaj', 'beam', 'all']).default('all'))
    .option('--max-n <n>', 'largest N (and beam width)', '128')
    .option('--max-beam <n>', 'largest beam width (default: --max-n)')
    .option('--alpha <a>', 'beam score Q + alpha A (paper: 0.5 for 2B/9B, 0.2 for 27B)', '0.5')
    .option('--children <n>', 'children per beam (paper: 3)', '3')
    .option('--problems <n>', 'eval problems (the first N)', '64')
    .option('--temperature <t>', 'sampling temperature', '1')
    .option('--seed <n>', 'random seed', '0')
    .option('--threads <n>', 'kernel threads')
    .option('-q, --quiet', 'no progress output (errors and the points only)')
    .option('--out <file>', 'also write the points as JSON')
    .action(async (opts: Record<string, string | undefined>) => {
      const engine = await openEngineWithThreads(opts.threads);
      try {
        const opened = await openPolicy(engine, opts.task!, jsonObjectFlag('--task-options', opts.taskOptions!), opts.model, opts.adapter, (line) => process.stderr.write(line + '\n'));
        let scorer: PrefixScorer;
        if (opts.verifier !== undefined) scorer = verifierScorer(loadVerifier(opts.verifier, engine).verifier);
        else {
          const oracle = opts.prover === undefined ? null : parseOracleSpec(opts.prover);
          if (!oracle) throw inputError('--verifier', 'required (or --prover oracle:gamma=G on planted)');
          scorer = oracleScorer(opened.codec, oracle.gamma);
        }
        const maxN = intFlag(opts.maxN!, '--max-n', 1);
        const powers = (max: number): number[] => Array.from({ length: Math.floor(Math.log2(max)) }, (_, i) => 2 ** (i + 1));
        const problems = opened.codec.problems('eval').slice(0, intFlag(opts.problems!, '--problems', 1));
        const base = { temperature: numberFlag(opts.temperature!, '--temperature', 0), maxNewTokens: opened.codec.maxNewTokens, rng: new Rng(intFlag(opts.seed!, '--seed', 0)) };
        const points: SearchPoint[] = [];
        const quiet = opts.quiet !== undefined;
        if (opts.method !== 'beam') points.push(...sampleSearch(opened.policy, opened.codec, scorer, problems, powers(maxN), { ...base, onProgress: countReporter('search: best-of-N', 'problems', { quiet }) }).filter((p) => opts.method === 'all' || p.method === opts.method));
        if (opts.method === 'beam' || opts.method === 'all') {
          const maxBeam = opts.maxBeam === undefined ? maxN : intFlag(opts.maxBeam, '--max-beam', 1);
          points.push(...beamSearchCurve(opened.policy, opened.codec, scorer, problems, powers(maxBeam), { ...base, children: intFlag(opts.children!, '--children', 1), alpha: numberFlag(opts.alpha!, '--alpha', 0), onProgress: countReporter('search: beam', 'problem-widths', { quiet }) }));
        }
        for (const p of points) console.log(JSON.stringify(p));
        if (opts.out !== undefined) writeJsonAtomic(opts.out, points);
      } finally {
        await engine.kernels.dispose();
      }
    });
}

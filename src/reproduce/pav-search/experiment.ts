/**
 * `prl reproduce pav-search`: test-time search with a process advantage verifier (Setlur et al., arXiv
 * 2410.08146, Sec. 4; SPEC.md "PAV: test-time search") on the synthetic arithmetic task.
 *
 * The paper's claim: step-level beam search scored by Q_hat^pi + alpha A_hat^mu (mu = Bo4 of the policy)
 * reaches the accuracy of best-of-N with an outcome verifier (ORM) using 1.5-5x fewer generated tokens,
 * and is >8% more accurate at equal compute. We train the verifier on Monte Carlo labels of the arith
 * warm start (`arith-pav.ts`), then on held-out problems measure accuracy against generated tokens (and
 * samples) of best-of-N picked by the ORM (the verifier's Q at the last step), majority vote, weighted
 * majority and beam search (B beams, C children per beam), and compute the token ratio at equal
 * accuracy: tokens of best-of-N_max over tokens of the cheapest beam width whose accuracy reaches it,
 * with a bootstrap interval over problems. pass@N (the exact grader picking) is shown as an upper bound.
 *
 * Every search is seeded per (setting, problem), so results do not depend on the order of work, and each
 * setting's per-problem outcomes are cached in `out/search/`, so an interrupted run resumes.
 *
 * This folder: settings, experiment (the searches), analysis (curves and ratios), results (results.json), report.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { mean } from '../../algos/index.js';
import { createEngine } from '../../engine/kernels/index.js';
import { loadModel } from '../../engine/io.js';
import { beamSearch, drawSamples, verifierScorer } from '../../pav/search.js';
import { loadVerifier } from '../../pav/verifier.js';
import { writeExperimentReport } from '../../report/results.js';
import { readJsonFile, writeJsonAtomic } from '../../util/fs.js';
import { formatDuration, type Progress } from '../../util/progress.js';
import { Rng } from '../../util/rng.js';
import { prepareArithPav } from '../arith-pav.js';
import { modelCodec } from '../runs.js';
import { defineExperiment } from '../types.js';
import { summarise, type BeamOutcome, type PavSearchResults } from './results.js';
import { alphasOf, FULL_SETTINGS, QUICK_SETTINGS, widthsOf, withUserModel, type PavSearchSettings } from './settings.js';
import { buildReport } from './report.js';

/** A 32-bit seed from the parts that name one search (setting and problem), independent of run order. */
function seedOf(...parts: unknown[]): number {
  return createHash('sha256').update(JSON.stringify(parts)).digest().readUInt32LE(0);
}

/** Runs the searches (reusing cached ones), then writes results.json and report.html into `out`. */
export async function runPavSearch(settings: PavSearchSettings, options: { out: string; quick: boolean; threads?: number; progress: Progress }): Promise<PavSearchResults> {
  const { out, progress, threads } = options;
  const prepareStarted = performance.now();
  const pav = await prepareArithPav(settings.pav, { progress, threads });
  const prepareSeconds = (performance.now() - prepareStarted) / 1000;
  const engine = await createEngine({ threads });
  try {
    const { model, tokenizer } = loadModel(pav.policy, engine, { trainable: false });
    const codec = modelCodec(settings.pav.task ?? 'arith', settings.pav.taskOptions, model, tokenizer);
    const scorer = verifierScorer(loadVerifier(pav.verifier, engine).verifier);
    const problems = codec.problems('eval').slice(0, settings.problems);
    const searchDir = join(out, 'search');
    mkdirSync(searchDir, { recursive: true });
    // Cached outcomes are valid for this verifier, these problems and this search seed only.
    const cacheKey = { verifier: readJsonFile(join(pav.verifier, 'prepare.json')), problems: settings.problems, temperature: settings.temperature, seed: settings.seed, userModel: settings.pav.userModel };
    const cached = <T>(name: string, spec: unknown, compute: () => T): T => {
      const path = join(searchDir, `${name}.json`);
      const key = createHash('sha256').update(JSON.stringify({ cacheKey, spec })).digest('hex').slice(0, 16);
      if (existsSync(path)) {
        const hit = readJsonFile(path) as { key: string; value: T };
        if (hit.key === key) return hit.value;
      }
      const value = compute();
      writeJsonAtomic(path, { key, value });
      return value;
    };
    const base = { temperature: settings.temperature, maxNewTokens: codec.maxNewTokens };

    const maxN = Math.max(...settings.bestOfN);
    let started = performance.now();
    const samples = cached(`samples-${maxN}`, { maxN }, () =>
      problems.map((problem, i) => {
        if (i % 10 === 0) progress.update(`best-of-${maxN}: problem ${i + 1}/${problems.length}`);
        return drawSamples(model, codec, scorer, problem, maxN, { ...base, rng: new Rng(seedOf(settings.seed, 'samples', problem.id)) });
      }),
    );
    progress.done();
    const bestOfNSeconds = (performance.now() - started) / 1000;
    progress.log(`best-of-${maxN}: ${problems.length} problems, ${Math.round(bestOfNSeconds)} s`);

    started = performance.now();
    const beams = new Map<number, Map<number, BeamOutcome[]>>();
    const total = alphasOf(settings).reduce((a, alpha) => a + widthsOf(settings, alpha).length, 0);
    let done = 0;
    for (const alpha of alphasOf(settings)) {
      const byWidth = new Map<number, BeamOutcome[]>();
      for (const width of widthsOf(settings, alpha)) {
        const settingStarted = performance.now();
        byWidth.set(
          width,
          cached(`beam-alpha${alpha}-B${width}`, { alpha, width, children: settings.children }, () =>
            problems.map((problem) => {
              const result = beamSearch(model, codec, scorer, problem, width, { ...base, children: settings.children, alpha, rng: new Rng(seedOf(settings.seed, 'beam', alpha, width, problem.id)) });
              return { correct: codec.read(problem, result.response).reward >= 1 ? 1 : 0, tokens: result.tokens, steps: result.steps, response: result.response, history: result.history };
            }),
          ),
        );
        done++;
        const elapsed = (performance.now() - started) / 1000;
        const outcomes = byWidth.get(width)!;
        progress.log(
          `beam alpha ${alpha}, B ${width}: accuracy ${mean(outcomes.map((o) => o.correct)).toFixed(3)}, ${mean(outcomes.map((o) => o.tokens)).toFixed(0)} tokens/problem ` +
            `(${Math.round((performance.now() - settingStarted) / 1000)} s; about ${formatDuration((elapsed / done) * (total - done))} left)`,
        );
      }
      beams.set(alpha, byWidth);
    }
    const beamSeconds = (performance.now() - started) / 1000;

    const results = summarise(settings, pav, samples, beams, options.quick, { prepare: prepareSeconds, bestOfN: bestOfNSeconds, beam: beamSeconds });
    writeExperimentReport(out, results, await buildReport(results, codec, problems, beams.get(settings.primaryAlpha) ?? beams.values().next().value!, settings));
    return results;
  } finally {
    await engine.kernels.dispose();
  }
}

/** The registry entry. */
export const pavSearch = defineExperiment('pav-search', 'PAV beam search (Q + alpha A) vs best-of-N with an outcome verifier on arithmetic: accuracy against tokens, compute ratio', { quick: QUICK_SETTINGS, full: FULL_SETTINGS }, withUserModel, runPavSearch);

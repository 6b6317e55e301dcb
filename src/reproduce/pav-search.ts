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
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { mean, passAtK } from '../algos/index.js';
import { createEngine } from '../engine/kernels/index.js';
import { loadModel } from '../engine/io.js';
import { promptText, responseSteps } from '../pav/labels.js';
import { beamSearch, drawSamples, selectFrom, verifierScorer, type BeamStep, type ProblemSamples } from '../pav/search.js';
import { loadVerifier } from '../pav/verifier.js';
import { logXLineChart } from '../report/charts.js';
import { renderReportPage, type ClaimRow, type Trace } from '../report/html.js';
import { writeExperimentReport, type ResultsHeader } from '../report/results.js';
import type { CodedProblem, TaskCodec } from '../tasks/codec.js';
import { readJsonFile, writeJsonAtomic } from '../util/fs.js';
import { formatDuration, type Progress } from '../util/progress.js';
import { Rng } from '../util/rng.js';
import { ARITH_PAV_FULL, ARITH_PAV_QUICK, prepareArithPav, type ArithPavSettings, type LabelStats, type VerifierStats } from './arith-pav.js';
import { modelCodec } from './runs.js';
import { defineExperiment } from './types.js';
import { describeUserModel, type UserModel } from './user-model.js';
import { r4, sig, signed } from './numbers.js';

/** Everything that decides the experiment's numbers. */
export interface PavSearchSettings {
  /** Policy, labels and verifier (shared with pav-rl). */
  pav: ArithPavSettings;
  /** Searches run on the first `problems` held-out problems. */
  problems: number;
  temperature: number;
  /** Best-of-N sizes; the largest is the reference the ratio is taken against (the paper: 128). */
  bestOfN: number[];
  /** Beam widths B of the primary alpha, and children per beam C. */
  beamWidths: number[];
  children: number;
  /** The alpha the headline ratio is taken at (the paper's default for search: 0.5), chosen before the run. */
  primaryAlpha: number;
  /** Other alphas of the score Q_hat^pi + alpha A_hat^mu, each searched at `gridWidths` (a cheaper grid). */
  gridAlphas: number[];
  gridWidths: number[];
  seed: number;
  /** Bootstrap resamples of the problems for intervals. */
  resamples: number;
}

/**
 * The settings on a user's model: it is the policy and the verifier's trunk, labelled and searched on its task;
 * label, verifier and search budgets stay as they are. No RL here, so `--lora-rank` changes nothing.
 */
export function withUserModel(settings: PavSearchSettings, user: UserModel): PavSearchSettings {
  const { start: _trunk, ...verifier } = settings.pav.verifier;
  return { ...settings, pav: { ...settings.pav, task: user.task, taskOptions: user.taskOptions, start: { model: user.startModel }, verifier, userModel: user.identity } };
}

/** The smoke run: the quick verifier, 100 problems, best-of-32 against beams up to 8, alpha 0.5 only. */
export const QUICK_SETTINGS: PavSearchSettings = {
  pav: ARITH_PAV_QUICK,
  problems: 100,
  temperature: 1,
  bestOfN: [1, 2, 4, 8, 16, 32],
  beamWidths: [1, 2, 4, 8],
  children: 3,
  primaryAlpha: 0.5,
  gridAlphas: [],
  gridWidths: [],
  seed: 0,
  resamples: 1000,
};

/**
 * The full run: the small warm start's verifier, all 300 held-out problems, best-of-128 against beams up
 * to 16 at alpha 0.5 (B = 16 already spends ~1000 tokens, best-of-48's) and up to 8 at alpha 0 and 2.
 */
export const FULL_SETTINGS: PavSearchSettings = {
  pav: ARITH_PAV_FULL,
  problems: 300,
  temperature: 1,
  bestOfN: [1, 2, 4, 8, 16, 32, 64, 128],
  beamWidths: [1, 2, 4, 8, 16],
  children: 3,
  primaryAlpha: 0.5,
  gridAlphas: [0, 2],
  gridWidths: [1, 2, 4, 8],
  seed: 0,
  resamples: 1000,
};

/** A point of an accuracy-against-compute curve, with its 95% bootstrap interval over problems. */
export interface CurvePoint {
  /** N for best-of-N and votes, B for beam search. */
  n: number;
  accuracy: number;
  lo: number;
  hi: number;
  tokensPerProblem: number;
  /** Sampled responses (best-of-N) or sampled steps (beam search) per problem. */
  samplesPerProblem: number;
}

export interface Curve {
  id: string;
  label: string;
  points: CurvePoint[];
}

/** The token ratio at equal accuracy and its bootstrap interval (null: the beam never reached the reference). */
export interface RatioResult {
  alpha: number;
  /** `max-n`: best-of-N at the largest N (the paper's reference); `best-n`: the most accurate best-of-N point (chosen anew in each resample). */
  against: 'max-n' | 'best-n';
  reference: { n: number; accuracy: number; tokensPerProblem: number };
  /** The cheapest beam width whose accuracy reaches the reference's, or null. */
  reachedAt: { n: number; accuracy: number; tokensPerProblem: number } | null;
  ratio: number | null;
  /** 2.5% and 97.5% quantiles over resampled problems; a resample that never reaches counts as the lowest, so lo is null when more than 2.5% of them did not. */
  lo: number | null;
  hi: number | null;
  /** Share of bootstrap resamples in which some beam width reached the reference. */
  reachedShare: number;
}

export interface PavSearchResults extends ResultsHeader {
  quick: boolean;
  config: Record<string, unknown>;
  pav: { policy: string; labels: LabelStats; verifier: VerifierStats };
  curves: Curve[];
  /** Per alpha, against best-of-N_max and against the most accurate best-of-N; the primary alpha's are the headline. */
  ratios: RatioResult[];
  /** Each beam point against the best best-of-N affordable with as many tokens (`bestOfNEnvelope`). */
  equalCompute: Array<{ alpha: number; beamWidth: number; tokensPerProblem: number; beam: number; bestOfN: number; difference: number }>;
  claims: ClaimRow[];
  seconds: { prepare: number; bestOfN: number; beam: number };
}

/** Per-problem outcome of one beam search. */
interface BeamOutcome {
  correct: number;
  tokens: number;
  steps: number;
  response: number[];
  history: BeamStep[];
}

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

/** The primary alpha first, then the grid. */
export function alphasOf(settings: PavSearchSettings): number[] {
  return [settings.primaryAlpha, ...settings.gridAlphas.filter((a) => a !== settings.primaryAlpha)];
}

function widthsOf(settings: PavSearchSettings, alpha: number): number[] {
  return alpha === settings.primaryAlpha ? settings.beamWidths : settings.gridWidths;
}

/** Per-problem accuracy and tokens of one curve point: what the bootstrap resamples. */
export interface PerProblem {
  n: number;
  correct: number[];
  tokens: number[];
  samples: number[];
}

/**
 * Per-problem outcomes of the sample-based methods at N: best-of-N by the ORM, majority, weighted
 * majority and any-correct, each averaged over the floor(maxN / N) disjoint blocks of N samples (every
 * block is an independent draw of N, so the average is unbiased and less noisy than the first N alone);
 * pass@N uses the unbiased estimator over all maxN samples instead.
 */
export function sampleMethodsAt(samples: readonly ProblemSamples[], n: number): Record<'bon' | 'maj' | 'wmaj' | 'pass', PerProblem> {
  const blank = (): PerProblem => ({ n, correct: [], tokens: [], samples: [] });
  const out = { bon: blank(), maj: blank(), wmaj: blank(), pass: blank() };
  for (const s of samples) {
    const maxN = s.rewards.length;
    const blocks = Math.floor(maxN / n);
    const sums = { bon: 0, maj: 0, wmaj: 0, tokens: 0 };
    for (let b = 0; b < blocks; b++) {
      const picked = selectFrom(s, b * n, n);
      sums.bon += picked.bon ? 1 : 0;
      sums.maj += picked.maj ? 1 : 0;
      sums.wmaj += picked.wmaj ? 1 : 0;
      sums.tokens += picked.tokens;
    }
    const tokens = sums.tokens / blocks;
    for (const method of ['bon', 'maj', 'wmaj'] as const) {
      out[method].correct.push(sums[method] / blocks);
      out[method].tokens.push(tokens);
      out[method].samples.push(n);
    }
    out.pass.correct.push(passAtK(maxN, s.rewards.filter((r) => r >= 1).length, n));
    out.pass.tokens.push(tokens);
    out.pass.samples.push(n);
  }
  return out;
}

/** Mean accuracy with its 95% percentile bootstrap interval over problems, and the mean compute. */
export function curvePoint(p: PerProblem, rng: Rng, resamples: number): CurvePoint {
  const count = p.correct.length;
  const means = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let sum = 0;
    for (let i = 0; i < count; i++) sum += p.correct[rng.int(count)];
    means[r] = sum / count;
  }
  means.sort();
  const at = (q: number): number => means[Math.min(resamples - 1, Math.floor(q * resamples))];
  return { n: p.n, accuracy: r4(mean(p.correct)), lo: r4(at(0.025)), hi: r4(at(0.975)), tokensPerProblem: r1(mean(p.tokens)), samplesPerProblem: r1(mean(p.samples)) };
}

/**
 * Compute ratio at equal accuracy: reference tokens over the tokens of the cheapest candidate whose
 * accuracy is at least the reference's (candidates in any order); null when none reaches it.
 */
export function ratioAtEqualAccuracy<T extends { accuracy: number; tokensPerProblem: number }>(reference: { accuracy: number; tokensPerProblem: number }, candidates: readonly T[]): { ratio: number; at: T } | null {
  const reaching = candidates.filter((c) => c.accuracy >= reference.accuracy).sort((a, b) => a.tokensPerProblem - b.tokensPerProblem);
  return reaching.length === 0 ? null : { ratio: reference.tokensPerProblem / reaching[0].tokensPerProblem, at: reaching[0] };
}

/** The most accurate point, the cheapest among equals. */
export function mostAccurate<T extends { accuracy: number; tokensPerProblem: number }>(points: readonly T[]): T {
  return points.reduce((best, p) => (p.accuracy > best.accuracy || (p.accuracy === best.accuracy && p.tokensPerProblem < best.tokensPerProblem) ? p : best));
}

/**
 * The ratio on `resamples` bootstrap resamples of the problems (the same indices for the references and
 * every candidate: they ran on the same problems); in each resample the reference is the most accurate
 * of `references` (one reference: that one), so choosing the best N is part of the noise. Unreached
 * resamples sort below every ratio.
 */
export function bootstrapRatio(references: readonly PerProblem[], candidates: readonly PerProblem[], rng: Rng, resamples: number): { lo: number | null; hi: number | null; reachedShare: number } {
  const count = references[0].correct.length;
  const ratios: number[] = [];
  let reached = 0;
  const summaryOf = (p: PerProblem, idx: readonly number[]) => ({ accuracy: mean(idx.map((i) => p.correct[i])), tokensPerProblem: mean(idx.map((i) => p.tokens[i])) });
  for (let r = 0; r < resamples; r++) {
    const idx = Array.from({ length: count }, () => rng.int(count));
    const found = ratioAtEqualAccuracy(mostAccurate(references.map((p) => summaryOf(p, idx))), candidates.map((c) => summaryOf(c, idx)));
    ratios.push(found === null ? -Infinity : found.ratio);
    if (found !== null) reached++;
  }
  ratios.sort((a, b) => a - b);
  const at = (q: number): number | null => {
    const x = ratios[Math.min(resamples - 1, Math.floor(q * resamples))];
    return Number.isFinite(x) ? r3(x) : null;
  };
  return { lo: at(0.025), hi: at(0.975), reachedShare: r4(reached / resamples) };
}

/** Accuracy of a curve at `tokens`, linear in log tokens between its points (clamped at the ends). */
export function accuracyAtTokens(points: readonly { accuracy: number; tokensPerProblem: number }[], tokens: number): number {
  const sorted = [...points].sort((a, b) => a.tokensPerProblem - b.tokensPerProblem);
  if (tokens <= sorted[0].tokensPerProblem) return sorted[0].accuracy;
  for (let i = 1; i < sorted.length; i++) {
    if (tokens <= sorted[i].tokensPerProblem) {
      const [a, b] = [sorted[i - 1], sorted[i]];
      const t = (Math.log(tokens) - Math.log(a.tokensPerProblem)) / (Math.log(b.tokensPerProblem) - Math.log(a.tokensPerProblem));
      return a.accuracy + t * (b.accuracy - a.accuracy);
    }
  }
  return sorted[sorted.length - 1].accuracy;
}

/**
 * The most accurate best-of-N affordable with `tokens` per problem: the best measured point at or below
 * that many tokens, or the curve interpolated to exactly `tokens` (log tokens) if that is higher. A
 * fixed N would let a best-of-N that falls with N look worse than its user would make it.
 */
export function bestOfNEnvelope(points: readonly { accuracy: number; tokensPerProblem: number }[], tokens: number): number {
  const affordable = points.filter((p) => p.tokensPerProblem <= tokens).map((p) => p.accuracy);
  return Math.max(accuracyAtTokens(points, tokens), ...affordable);
}

function beamPerProblem(outcomes: readonly BeamOutcome[], width: number): PerProblem {
  return { n: width, correct: outcomes.map((o) => o.correct), tokens: outcomes.map((o) => o.tokens), samples: outcomes.map((o) => o.steps) };
}

const SAMPLE_METHODS = [
  { id: 'bon', label: 'best-of-N, ORM pick' },
  { id: 'maj', label: 'majority vote' },
  { id: 'wmaj', label: 'ORM-weighted majority' },
  { id: 'pass', label: 'pass@N (exact grader; upper bound)' },
] as const;

/** Curves, ratios, equal-compute differences and claims from the per-problem outcomes. */
export function summarise(
  settings: PavSearchSettings,
  pav: { policy: string; stats: { labels: LabelStats; verifier: VerifierStats } },
  samples: readonly ProblemSamples[],
  beams: ReadonlyMap<number, ReadonlyMap<number, readonly BeamOutcome[]>>,
  quick: boolean,
  seconds: { prepare: number; bestOfN: number; beam: number },
): PavSearchResults {
  const rng = new Rng(settings.seed + 7);
  const perN = settings.bestOfN.map((n) => sampleMethodsAt(samples, n));
  const curves: Curve[] = SAMPLE_METHODS.map((m) => ({ id: m.id, label: m.label, points: perN.map((p) => curvePoint(p[m.id], rng, settings.resamples)) }));
  for (const alpha of alphasOf(settings)) {
    const byWidth = beams.get(alpha)!;
    curves.push({ id: `beam-alpha${alpha}`, label: `beam search, PAV (alpha ${alpha})`, points: widthsOf(settings, alpha).map((w) => curvePoint(beamPerProblem(byWidth.get(w)!, w), rng, settings.resamples)) });
  }
  const maxN = Math.max(...settings.bestOfN);
  const referencePer = perN[settings.bestOfN.indexOf(maxN)].bon;
  const bon = curves.find((c) => c.id === 'bon')!;
  const reference = bon.points.find((p) => p.n === maxN)!;
  const bestBon = mostAccurate(bon.points);
  const pick = (p: CurvePoint) => ({ n: p.n, accuracy: p.accuracy, tokensPerProblem: p.tokensPerProblem });
  const ratios: RatioResult[] = alphasOf(settings).flatMap((alpha) => {
    const curve = curves.find((c) => c.id === `beam-alpha${alpha}`)!;
    const candidates = widthsOf(settings, alpha).map((w) => beamPerProblem(beams.get(alpha)!.get(w)!, w));
    return (['max-n', 'best-n'] as const).map((against) => {
      const ref = against === 'max-n' ? reference : bestBon;
      const found = ratioAtEqualAccuracy(ref, curve.points);
      const interval = bootstrapRatio(against === 'max-n' ? [referencePer] : perN.map((p) => p.bon), candidates, rng, settings.resamples);
      return { alpha, against, reference: pick(ref), reachedAt: found ? pick(found.at) : null, ratio: found ? r3(found.ratio) : null, ...interval };
    });
  });
  const equalCompute = alphasOf(settings).flatMap((alpha) =>
    curves
      .find((c) => c.id === `beam-alpha${alpha}`)!
      .points.map((p) => {
        const bonThere = bestOfNEnvelope(bon.points, p.tokensPerProblem);
        return { alpha, beamWidth: p.n, tokensPerProblem: p.tokensPerProblem, beam: p.accuracy, bestOfN: r4(bonThere), difference: r4(p.accuracy - bonThere) };
      }),
  );
  const primary = ratios.find((r) => r.alpha === settings.primaryAlpha && r.against === 'max-n')!;
  const primaryBest = ratios.find((r) => r.alpha === settings.primaryAlpha && r.against === 'best-n')!;
  const fallsWithN = bestBon.n !== maxN && reference.accuracy < bestBon.accuracy;
  const peak = primaryBest.ratio === null ? 'beam search never matched it' : `beam search matched it with ${tokenRatioText(primaryBest.ratio)}`;
  const user = settings.pav.userModel;
  const headline =
    `${quick ? 'Quick run: ' : ''}${user ? `On ${describeUserModel(user)}: ` : ''}${matchText(primary, `best-of-${maxN}`)} (paper: 1.5-5x)` +
    `${fallsWithN ? `; best-of-N itself peaked at N = ${bestBon.n} (accuracy ${bestBon.accuracy}), and ${peak}` : ''}.`;
  return {
    experiment: 'pav-search',
    title: user ? `PAV beam search vs best-of-N on the ${settings.pav.task} task, from ${basename(user.model)}` : 'PAV beam search vs best-of-N on synthetic arithmetic',
    headline,
    finishedAt: new Date().toISOString(),
    quick,
    config: settings as unknown as Record<string, unknown>,
    pav: { policy: pav.policy, labels: pav.stats.labels, verifier: pav.stats.verifier },
    curves,
    ratios,
    equalCompute,
    claims: claimRows(settings, primary, primaryBest, equalCompute.filter((e) => e.alpha === primary.alpha), quick),
    seconds: { prepare: Math.round(seconds.prepare), bestOfN: Math.round(seconds.bestOfN), beam: Math.round(seconds.beam) },
  };
}

/**
 * Beam search against a best-of-N reference in words: the cheapest beam width whose accuracy reaches the
 * reference's, and how many times fewer tokens it spends. The ratio jumps between widths, so its bootstrap
 * interval is read as "at least lo": resamples in which the cheapest reaching width is wider give the lower end.
 */
/** A token ratio (reference / beam) in words: "3.1x fewer tokens", or "1.5x more tokens" below 1. */
function tokenRatioText(ratio: number): string {
  return ratio >= 1 ? `${sig(ratio)}x fewer tokens` : `${sig(1 / ratio)}x more tokens`;
}

function matchText(r: RatioResult, name: string): string {
  if (r.reachedAt === null || r.ratio === null) return `beam search with the PAV never matched ${name} (accuracy ${r.reference.accuracy})`;
  const atLeast = r.lo === null ? '' : `; at least ${sig(r.lo)}x in 95% of bootstrap resamples`;
  return (
    `beam search with the PAV matched ${name} (accuracy ${r.reference.accuracy}) already at B = ${r.reachedAt.n} (accuracy ${r.reachedAt.accuracy}) ` +
    `with ${tokenRatioText(r.ratio)}${atLeast}`
  );
}

function claimRows(settings: PavSearchSettings, ratio: RatioResult, best: RatioResult, equal: PavSearchResults['equalCompute'], quick: boolean): ClaimRow[] {
  const maxN = Math.max(...settings.bestOfN);
  const setting = settings.pav.userModel ? `${settings.pav.task} task from the user's model` : '2-operation arithmetic';
  const scale = `${setting}, ${settings.problems} held-out problems, 1 search seed${quick ? ', quick budget' : ''}`;
  const heldBy = (r: RatioResult): 'yes' | 'partly' | 'no' => (r.ratio === null ? 'no' : r.lo !== null && r.lo >= 1.5 ? 'yes' : r.ratio >= 1.5 ? 'partly' : 'no');
  // A ratio against a best-of-N that gets worse with N measures the ORM's overoptimisation, not the PAV: the claim holds only as far as it holds against best-of-N's best point too.
  const ratioHeld = best.reference.n === ratio.reference.n ? heldBy(ratio) : heldBy(best) === 'yes' && heldBy(ratio) === 'yes' ? 'yes' : heldBy(best) === 'no' ? (heldBy(ratio) === 'no' ? 'no' : 'partly') : 'partly';
  const bestText =
    best.reference.n === ratio.reference.n
      ? ''
      : `; against the most accurate best-of-N (N = ${best.reference.n}, ${best.reference.accuracy}): ` +
        (best.ratio === null ? 'never reached' : `token ratio ${best.ratio} [${best.lo ?? 'not reached'}, ${best.hi ?? 'not reached'}] (B = ${best.reachedAt!.n})`);
  const diffHeld = equal.every((e) => e.difference >= 0.08) ? 'yes' : equal.some((e) => e.difference > 0) ? 'partly' : 'no';
  return [
    {
      claim: `Beam search with the PAV reaches best-of-N's accuracy (ORM pick) with fewer generated tokens`,
      paper: '1.5-5x compute efficiency over best-of-N with an ORM (Gemma 2B, 9B, 27B on MATH; Setlur et al. 2024)',
      ours:
        ratio.ratio === null
          ? `never reached best-of-${maxN}'s accuracy ${ratio.reference.accuracy} (alpha ${ratio.alpha}; ${scale})`
          : `token ratio ${ratio.ratio} [${ratio.lo ?? 'not reached'}, ${ratio.hi ?? 'not reached'}] at best-of-${maxN}'s accuracy ${ratio.reference.accuracy} (B = ${ratio.reachedAt!.n}, alpha ${ratio.alpha})${bestText} (${scale})`,
      held: ratioHeld,
      note:
        'Ratio of tokens at the first beam width whose accuracy reaches the reference, without interpolation; the interval is a bootstrap over problems (search noise of one seed is in it, ' +
        'training noise of the verifier is not). When best-of-N falls with N, the ratio against N_max is inflated by the ORM being exploited, so the verdict also needs the ratio against the best N.',
    },
    {
      claim: 'Beam search with the PAV is more accurate than best-of-N at equal compute',
      paper: '>8% accuracy over best-of-N with an ORM at equal compute (Setlur et al. 2024)',
      ours: `beam minus best-of-N at the beam's tokens, alpha ${ratio.alpha}: ${equal.map((e) => `B = ${e.beamWidth}: ${signed(e.difference)}`).join(', ')} (${scale})`,
      held: diffHeld,
      note: "Best-of-N at the beam's token count is the best it reaches with at most that many tokens (measured N, or interpolated in log tokens), so a best-of-N that falls with N is not held against it.",
    },
  ];
}

/** The report page: curves against tokens and samples, the ratio, the verifier, claims and beam traces. */
async function buildReport(results: PavSearchResults, codec: TaskCodec, problems: readonly CodedProblem[], primaryBeams: ReadonlyMap<number, readonly BeamOutcome[]>, settings: PavSearchSettings): Promise<string> {
  const series = (x: (p: CurvePoint) => number) =>
    results.curves.map((c) => ({ name: c.label, points: c.points.map((p) => ({ x: x(p), y: p.accuracy, lo: p.lo, hi: p.hi })) }));
  const tokenChart = await logXLineChart({ series: series((p) => p.tokensPerProblem), xTitle: 'generated tokens per problem', yTitle: 'accuracy', logBase: 10, yDomain: [0, 1] });
  const sampleChart = await logXLineChart({ series: series((p) => p.samplesPerProblem), xTitle: 'samples per problem (responses; steps for beam search)', yTitle: 'accuracy', logBase: 2, yDomain: [0, 1] });
  const maxN = Math.max(...settings.bestOfN);
  const modelNote = settings.pav.userModel ? `The policy (and the verifier's trunk) is the user's checkpoint: ${describeUserModel(settings.pav.userModel)}.` : null;
  const quickNote = results.quick
    ? 'This is a quick smoke run: a tiny policy unless --model gave one, a small label set and a briefly trained verifier, on few problems. It shows the pipeline works end to end; its numbers are not evidence for or against the paper.'
    : null;
  const pointRows = results.curves.flatMap((c) => c.points.map((p) => [c.label, p.n, `${p.accuracy} [${p.lo}, ${p.hi}]`, p.tokensPerProblem, p.samplesPerProblem]));
  const ratioRows = results.ratios.map((r) => [
    r.alpha,
    `best-of-${r.reference.n}${r.against === 'best-n' ? ' (most accurate N)' : ''}: ${r.reference.accuracy} (${r.reference.tokensPerProblem} tokens)`,
    r.reachedAt ? `B = ${r.reachedAt.n}: ${r.reachedAt.accuracy} (${r.reachedAt.tokensPerProblem} tokens)` : 'never',
    r.ratio === null ? 'undefined' : String(r.ratio),
    `[${r.lo ?? 'not reached'}, ${r.hi ?? 'not reached'}]`,
    r.reachedShare,
  ]);
  const v = results.pav.verifier;
  const l = results.pav.labels;
  const html = renderReportPage({
    title: results.title,
    summary: `${results.headline} ${quickNote ?? ''}`.trim(),
    indexHref: '../index.html',
    findings: results.claims,
    sections: [
      {
        title: `Does beam search with the PAV reach best-of-${maxN} with fewer tokens?`,
        blocks: [
          ...(modelNote ? [{ kind: 'text' as const, text: modelNote }] : []),
          ...(quickNote ? [{ kind: 'text' as const, text: quickNote }] : []),
          {
            kind: 'text',
            text:
              `On ${settings.problems} held-out problems, best-of-N draws N full responses and the outcome verifier (the learned verifier's Q_hat at the last step) picks one; ` +
              `beam search keeps B partial responses, expands each by ${settings.children} sampled next steps (the prompt by B x ${settings.children}), keeps the B children with the highest ` +
              `Q_hat^pi + alpha A_hat^mu (mu = the labels' prover, ${settings.pav.labels.prover}) and lets the same outcome verifier pick among the finished beams. ` +
              `The token ratio divides the reference's tokens by those of the cheapest beam width whose accuracy reaches the reference's (above 1: beam search is cheaper); ` +
              `the reference is best-of-${maxN} (the paper's) and, since best-of-N need not improve with N, also the most accurate best-of-N; the intervals resample problems.`,
          },
          { kind: 'table', caption: 'Token ratio at equal accuracy', columns: ['alpha', 'reference: best-of-N (ORM pick)', 'cheapest beam reaching it', 'ratio', '95% interval', 'share of resamples reached'], rows: ratioRows },
          { kind: 'chart', svg: tokenChart, caption: 'Accuracy against generated tokens per problem; bands are 95% bootstrap intervals over problems.' },
          { kind: 'chart', svg: sampleChart, caption: 'Accuracy against samples per problem: full responses for the sample-based methods, sampled steps for beam search.' },
        ],
      },
      {
        title: 'The verifier',
        blocks: [
          {
            kind: 'text',
            text:
              `Labels: ${l.traces} traces (${l.pairs} step pairs) of the policy on ${settings.pav.labels.problems} training problems, n_cov = ${settings.pav.labels.nCov} seeds, ` +
              `n_mc = ${settings.pav.labels.nMc} rollouts per prefix, prover ${settings.pav.labels.prover} (${l.rolloutTokens} rollout tokens, ${l.seconds} s); the seeds' mean reward ` +
              `(the policy's pass@1) is ${l.seedReward} and ${l.highShare} of the labels have Q_hat >= 0.5. The verifier (the policy's trunk and a scalar head) trained ` +
              `${settings.pav.verifier.steps} steps on ${v.trainTraces} traces (${v.seconds} s). On ${v.heldOutTraces} traces of held-out problems: ECE ${v.ece}; ` +
              `the first wrong step is ranked below a right step before it in ${v.firstWrongBelowEarlier.rate} of ${v.firstWrongBelowEarlier.pairs} pairs; a right answer above a ` +
              `wrong one to the same problem in ${v.outcomeRanking.rate} of ${v.outcomeRanking.pairs} pairs (chance 0.5 for both).`,
          },
          { kind: 'table', caption: 'Held-out calibration (Q_hat against the Monte Carlo labels)', columns: ['predicted bin', 'prefixes', 'mean predicted', 'mean label'], rows: v.calibration.map((c) => [c.bin, c.count, c.predicted, c.observed]) },
        ],
      },
      {
        title: 'All points',
        blocks: [{ kind: 'table', caption: 'Accuracy [95% bootstrap over problems] and compute per problem', columns: ['method', 'N or B', 'accuracy', 'tokens / problem', 'samples / problem'], rows: pointRows }],
      },
      {
        title: 'Beam search traces',
        blocks: [
          {
            kind: 'text',
            text:
              `The picked response of beam search (alpha ${settings.primaryAlpha}, B = ${Math.max(...settings.beamWidths)}) on the first held-out problems. Each step is coloured by the progress ` +
              'A_hat^mu the verifier gave it (green: the step raised the prover\'s value, red: lowered it); the title lists Q_hat^pi after each step.',
          },
          { kind: 'traces', valueLabel: 'progress A_hat^mu', traces: beamTraces(codec, problems, primaryBeams.get(Math.max(...settings.beamWidths))!, 4) },
        ],
      },
    ],
    config: results.config,
  });
  return html;
}

/** The first `count` problems' beam picks, step by step, with the verifier's per-step values. */
function beamTraces(codec: TaskCodec, problems: readonly CodedProblem[], outcomes: readonly BeamOutcome[], count: number): Trace[] {
  return outcomes.slice(0, count).map((o, i) => {
    const stepped = responseSteps(codec, problems[i], o.response);
    return {
      title: `problem ${problems[i].id}: Q_hat^pi after each step ${o.history.map((h) => h.qPi.toFixed(2)).join(', ')}`,
      prompt: promptText(codec, problems[i]).trim(),
      steps: stepped.steps.map((text, h) => ({ text, value: o.history[h] === undefined ? null : r4(o.history[h].advantage) })),
      outcome: o.correct >= 1 ? 'correct' : 'wrong',
    };
  });
}

function r1(x: number): number {
  return Math.round(x * 10) / 10;
}

function r3(x: number): number {
  return Math.round(x * 1e3) / 1e3;
}

/** The registry entry. */
export const pavSearch = defineExperiment('pav-search', 'PAV beam search (Q + alpha A) vs best-of-N with an outcome verifier on arithmetic: accuracy against tokens, compute ratio', { quick: QUICK_SETTINGS, full: FULL_SETTINGS }, withUserModel, runPavSearch);

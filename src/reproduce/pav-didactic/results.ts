/**
 * pav-didactic's results.json: the numbers of every arm and of the prover sweep, the claims against the
 * paper, and example traces.
 */
import { mean } from '../../algos/index.js';
import { type ClaimRow } from '../../report/html.js';
import { type ResultsHeader } from '../../report/results.js';
import { PAPER_PLANTED, PlantedProver, plantedReward, PlantedValues } from '../../tasks/planted.js';
import { wilsonInterval } from '../../pav/labels.js';
import { seedInterval, type MeanInterval } from '../stats.js';
import { r4, sig, sig4 } from '../numbers.js';
import { accuracyCurve, bounds, compareArms, passCurve, proverStrength, type ArmComparison, type Bounds, type CurvePoint, type GammaSweepPoint, type PassEvaluation } from './analysis.js';
import type { DidacticStart, RunOutcome } from './experiment.js';
import { PAPER_SFT_ITERATIONS, type PavDidacticSettings } from './settings.js';

/** A warm start and how often it samples the target: the rarer, the longer outcome-only RL waits for a reward. */
export interface WarmStartInfo {
  /** The network: "MADE 3x128" or "tiny Llama". */
  policy: string;
  /** Its model folder, or how it was built (MADE warm starts are rebuilt in process, they take a fraction of a second). */
  model: string;
  /** SFT iterations of its recipe; null for a model folder given as is. */
  sftIterations: number | null;
  /** Fraction correct over all draws, with a 95% Wilson interval (correct samples are rare: a t interval would collapse at 0). */
  accuracy: MeanInterval;
  /** Correct samples in each draw of `samples` (draw s with sampling seed s). */
  correct: number[];
  samples: number;
}

/** The sensitivity pair: (a)'s arms from another warm start. */
export interface SensitivityResults {
  key: string;
  seeds: number;
  iterations: number;
  warmStart: WarmStartInfo;
  curves: { effective: CurvePoint[]; outcome: CurvePoint[] };
  reach: ArmComparison;
}

export interface PavDidacticResults extends ResultsHeader {
  quick: boolean;
  seeds: number;
  config: Record<string, unknown>;
  accuracyDefinition: string;
  warmStart: WarmStartInfo;
  curves: { effective: CurvePoint[]; outcome: CurvePoint[] };
  /** The headline comparison, from the paper's warm-start recipe (or `config.start`). */
  reach: ArmComparison;
  /** Sensitivity arms, reported beside the headline (absent when the settings have none). */
  sensitivity?: Record<string, SensitivityResults>;
  gamma_sweep: GammaSweepPoint[];
  /** The sweep with Q^mu from `rollouts` Monte Carlo rollouts per step (absent without `sweep.proverRollouts`). */
  gamma_sweep_monte_carlo?: { rollouts: number; points: GammaSweepPoint[] };
  /** Outcome-only accuracy averaged over the sweep's iterations and seeds: the sweep's baseline. */
  sweep_baseline: Bounds & { accuracy: number; perSeed: number[] };
  /** The prover's own success probability V^mu at the empty prefix and mean |A^mu| of its first action, per gamma (exact). */
  prover_strength: Array<{ gamma: number; v0: number; meanAbsAdvantage: number }>;
  pass_at_n: {
    iteration: number;
    samples: number;
    effective: Array<Bounds & { n: number; pass: number }>;
    outcome: Array<Bounds & { n: number; pass: number }>;
    warm_start: Array<Bounds & { n: number; pass: number }>;
    correct: { effective: number[]; outcome: number[]; warm_start: number[] };
  };
  /**
   * `wallSeconds` is this invocation (small when runs were reused: `reusedRuns` of `runs`); `stepSeconds` sums
   * every run's training steps as the trainer timed them, whenever they ran.
   */
  timing: { wallSeconds: number; runs: number; reusedRuns: number; iterations: number; stepSeconds: number; secondsPerIteration: number };
  claims: ClaimRow[];
  traces: Array<{ policy: string; tokens: number[]; advantages: number[]; reward: number }>;
}

interface Collected {
  effective: RunOutcome[];
  outcome: RunOutcome[];
  sweep: Array<{ gamma: number; runs: RunOutcome[] }>;
  sweepBaseline: RunOutcome[];
  /** The sweep again with Monte Carlo Q^mu (empty without `sweep.proverRollouts`). */
  monteCarlo: Array<{ gamma: number; runs: RunOutcome[] }>;
  /** (c)'s warm-start draws (one per seed), and all the draws that measure its accuracy. */
  warm: PassEvaluation[];
  warmDraws: PassEvaluation[];
  start: DidacticStart;
  other: { key: string; effective: RunOutcome[]; outcome: RunOutcome[]; warm: PassEvaluation[]; start: DidacticStart } | null;
  quick: boolean;
  seconds: number;
  all: RunOutcome[];
}

function warmStartInfo(start: DidacticStart, evaluations: readonly PassEvaluation[]): WarmStartInfo {
  const correct = evaluations.reduce((sum, e) => sum + e.correct, 0);
  const samples = evaluations.reduce((sum, e) => sum + e.samples, 0);
  const [lo, hi] = wilsonInterval(correct, samples);
  return {
    policy: start.policy,
    model: start.model,
    sftIterations: start.sftIterations,
    accuracy: { mean: sig4(correct / samples), lo: sig4(lo), hi: sig4(hi) },
    correct: evaluations.map((e) => e.correct),
    samples: evaluations[0].samples,
  };
}

/** "1.40x" or ">= 5.2x" or why there is none. */
function startName(sft: number | null): string {
  return sft === null ? 'the given model' : sft === PAPER_SFT_ITERATIONS ? `the paper's SFT recipe (${sft} iterations)` : `${sft} SFT iterations`;
}

/** "MADE 128x128x128 after the paper's SFT recipe (50 iterations)": the policy and its warm start. */
export function startText(warm: { policy: string; sftIterations: number | null }): string {
  return warm.sftIterations === null ? `${warm.policy} (a given model folder)` : `${warm.policy} after ${startName(warm.sftIterations)}`;
}

/** Aggregates the runs into results.json: curves, time to the threshold, the gamma sweep, pass@N, claims. */
export function summarise(settings: PavDidacticSettings, c: Collected): PavDidacticResults {
  const { threshold, window } = settings;
  const reach = compareArms(c.effective.map((r) => r.accuracy), c.outcome.map((r) => r.accuracy), threshold, window);
  const baselinePerSeed = c.sweepBaseline.map((r) => mean(r.accuracy));
  const baseline = seedInterval(baselinePerSeed);
  const gammaSweep = sweepPoints(c.sweep, baselinePerSeed);
  const monteCarloSweep = settings.sweep.proverRollouts === undefined ? null : { rollouts: settings.sweep.proverRollouts, points: sweepPoints(c.monteCarlo, baselinePerSeed) };
  const passEffective = passCurve(c.effective.map((r) => r.pass!), settings.passAt.maxN);
  const passOutcome = passCurve(c.outcome.map((r) => r.pass!), settings.passAt.maxN);
  const passWarm = passCurve(c.warm, settings.passAt.maxN);
  const warmStart = warmStartInfo(c.start, c.warmDraws);
  const other: SensitivityResults | null =
    c.other && settings.sensitivity
      ? {
          key: c.other.key,
          seeds: settings.sensitivity.seeds,
          iterations: settings.sensitivity.iterations,
          warmStart: warmStartInfo(c.other.start, c.other.warm),
          curves: { effective: accuracyCurve(c.other.effective.map((r) => r.accuracy), window), outcome: accuracyCurve(c.other.outcome.map((r) => r.accuracy), window) },
          reach: compareArms(c.other.effective.map((r) => r.accuracy), c.other.outcome.map((r) => r.accuracy), threshold, window),
        }
      : null;
  const iterations = c.all.reduce((s, r) => s + r.accuracy.length, 0);
  const best = gammaSweep.reduce((a, b) => (b.accuracy > a.accuracy ? b : a), gammaSweep[0]);
  const sooner = reach.ratio === null ? 'not measurably sooner' : `${reach.ratioLowerBound ? 'at least ' : ''}${sig(reach.ratio)}x sooner`;
  const headline =
    `${c.quick ? 'Quick run: ' : ''}the effective reward reached ${Math.round(threshold * 100)}% accuracy ${sooner} than outcome-only RL (paper: about 10x); ` +
    `the best prover in the sweep was gamma ${best.gamma}.`;
  const stepSeconds = c.all.reduce((sum, r) => sum + r.stepSeconds, 0);
  const results: PavDidacticResults = {
    experiment: 'pav-didactic',
    title: "PAV's didactic task: effective reward vs outcome-only RL (Fig. 3)",
    headline,
    finishedAt: new Date().toISOString(),
    quick: c.quick,
    seeds: settings.seeds,
    config: { ...settings, task: 'planted', taskConfig: PAPER_PLANTED, estimator: 'pav', startModel: c.start.model },
    accuracyDefinition: `fraction of correct samples in each iteration's training batch of ${settings.batchSize} on-policy samples (drawn before the update); curve points average ${window} iterations`,
    warmStart,
    curves: { effective: accuracyCurve(c.effective.map((r) => r.accuracy), window), outcome: accuracyCurve(c.outcome.map((r) => r.accuracy), window) },
    reach,
    ...(other ? { sensitivity: { [other.key]: other } } : {}),
    gamma_sweep: gammaSweep,
    ...(monteCarloSweep ? { gamma_sweep_monte_carlo: monteCarloSweep } : {}),
    sweep_baseline: { accuracy: r4(baseline.mean), ...bounds(baseline), perSeed: baselinePerSeed.map(r4) },
    prover_strength: settings.sweep.gammas.map((gamma) => proverStrength(gamma)),
    pass_at_n: {
      iteration: settings.passAt.iteration,
      samples: settings.passAt.samples,
      effective: passEffective,
      outcome: passOutcome,
      warm_start: passWarm,
      correct: { effective: c.effective.map((r) => r.pass!.correct), outcome: c.outcome.map((r) => r.pass!.correct), warm_start: c.warm.map((e) => e.correct) },
    },
    timing: {
      wallSeconds: Math.round(c.seconds),
      runs: c.all.length,
      reusedRuns: c.all.filter((r) => r.reused).length,
      iterations,
      stepSeconds: Math.round(stepSeconds),
      secondsPerIteration: sig4(stepSeconds / Math.max(1, iterations)),
    },
    claims: [],
    traces: [],
  };
  results.claims = claimRows(results, settings);
  results.traces = traceRows(c, settings);
  return results;
}

/** Accuracy averaged over training per prover, and its gain over outcome-only paired by seed (the same seed gives both runs the same first batch). */
function sweepPoints(sweep: Collected['sweep'], baselinePerSeed: readonly number[]): GammaSweepPoint[] {
  return sweep.map(({ gamma, runs }) => {
    const perSeed = runs.map((r) => mean(r.accuracy));
    const interval = seedInterval(perSeed);
    const gain = seedInterval(perSeed.map((a, s) => a - baselinePerSeed[s]));
    return { gamma, accuracy: r4(interval.mean), ...bounds(interval), gain: { mean: r4(gain.mean), ...bounds(gain) }, perSeed: perSeed.map(r4) };
  });
}

/** pass@2 above this for both arms leaves pass@N nothing to compare. */
const SATURATED = 0.98;

function claimRows(results: PavDidacticResults, settings: PavDidacticSettings): ClaimRow[] {
  const { reach } = results;
  const efficiencyOurs = (r: ArmComparison, warm: WarmStartInfo, seeds: number, iterations: number) =>
    `${Math.round(r.threshold * 100)}% reached at iteration ${r.effective.lowerBound ? '>= ' : ''}${r.effective.mean} [${r.effective.lo ?? '-'}, ${r.effective.hi ?? '-'}] (effective) vs ` +
    `${r.outcome.lowerBound ? '>= ' : ''}${r.outcome.mean} [${r.outcome.lo ?? '-'}, ${r.outcome.hi ?? '-'}] (outcome-only, ${r.outcome.reachedSeeds} of ${seeds} seeds reached it): ` +
    `${r.ratio === null ? 'undetermined' : `${r.ratioLowerBound ? '>= ' : ''}${r.ratio}x`} (warm start: ${startText(warm)}, accuracy ${warmText(warm)}; ` +
    `${seeds} seed${seeds === 1 ? '' : 's'}, ${iterations} iterations)`;
  const efficiencyHeld = (r: ArmComparison): ClaimRow['held'] => (r.ratio === null ? 'untested' : r.ratio >= 5 ? 'yes' : r.ratio > 1.5 ? 'partly' : 'no');
  const efficiency: ClaimRow = {
    claim: `The effective reward (gamma ${settings.gamma}, alpha ${settings.alpha}) reaches high accuracy far sooner than outcome-only RL`,
    paper: 'About 10x fewer iterations to high accuracy; outcome-only RL barely moves within the budget (PAV Fig. 3a)',
    ours: efficiencyOurs(reach, results.warmStart, settings.seeds, settings.iterations),
    held: efficiencyHeld(reach),
    note: 'Iterations to the threshold over a trailing window, mean over seeds (a seed that never reaches it counts as the budget, making the mean and the ratio lower bounds).',
  };
  const other = sensitivityOf(results);
  const otherRow: ClaimRow[] = other
    ? [
        {
          claim: `Sensitivity: the same comparison with ${startText(other.warmStart)} instead of ${startText(results.warmStart)}`,
          paper: 'About 10x fewer iterations (PAV Fig. 3a, MADE policy after the paper\'s SFT warm start)',
          ours: efficiencyOurs(other.reach, other.warmStart, other.seeds, other.iterations),
          held: efficiencyHeld(other.reach),
          note:
            'A sensitivity arm, not the headline: outcome-only RL learns nothing until its batch holds a correct sample, and how far one correct ' +
            'sample carries depends on the network (a transformer shares its weights across positions, MADE does not) and on how rare correct samples are at the start.',
        },
      ]
    : [];
  const bands = [bandRow(results.gamma_sweep, results.sweep_baseline.accuracy, 'exact A^mu (dynamic programming)', settings)];
  const monteCarlo = results.gamma_sweep_monte_carlo;
  if (monteCarlo) bands.push(bandRow(monteCarlo.points, results.sweep_baseline.accuracy, `A^mu from ${monteCarlo.rollouts} Monte Carlo rollouts of the prover per step (the paper's n_mc)`, settings));
  const pass = results.pass_at_n;
  const mid = pass.effective.findIndex((p) => p.n === 16);
  const at = mid >= 0 ? mid : 0;
  const saturated = Math.min(pass.effective[0].pass, pass.outcome[0].pass) > SATURATED;
  // "yes" needs the arms' 95% intervals over seeds apart at every N (at N = 2 for a single seed, a 0.05 margin).
  const separated = pass.effective.every((p, i) => (p.lo !== undefined && pass.outcome[i].hi !== undefined ? p.lo > pass.outcome[i].hi! : p.pass > pass.outcome[i].pass + 0.05));
  const passRow: ClaimRow = {
    claim: `pass@N at iteration ${pass.iteration} is higher with the effective reward than with outcome-only RL`,
    paper: 'pass@N for N = 2..256 grows about 5x faster with the effective reward (PAV Fig. 3c)',
    ours:
      `pass@${pass.effective[at].n}: ${pass.effective[at].pass} (effective) vs ${pass.outcome[at].pass} (outcome-only) vs ${pass.warm_start[at].pass} (warm start); ` +
      `pass@2: ${pass.effective[0].pass} vs ${pass.outcome[0].pass}`,
    held: saturated ? 'untested' : separated ? 'yes' : pass.effective[0].pass > pass.outcome[0].pass ? 'partly' : 'no',
    note:
      `From ${pass.samples} samples per seed with the unbiased estimator; mean over ${settings.seeds} seeds. Held means the arms' 95% intervals are apart at every N.` +
      (saturated ? ` Both arms already have pass@2 > ${SATURATED} at this iteration, so pass@N cannot separate them here; the accuracy curves show the gap earlier.` : ''),
  };
  return [efficiency, ...otherRow, ...bands, passRow];
}

/**
 * Whether a sweep's provers form a middle band: each end of the swept range (the weakest and the strongest
 * prover) falls below the best prover. Read on accuracy rather than on the gain over outcome-only, whose
 * per-seed spread (outcome-only either takes off within the budget or does not) swamps a few seeds' interval.
 */
function bandRow(sweep: readonly GammaSweepPoint[], baseline: number, advantages: string, settings: PavDidacticSettings): ClaimRow {
  const best = sweep.reduce((a, b) => (b.accuracy > a.accuracy ? b : a));
  // Below the best: 95% t intervals apart, or (one seed, no interval) by more than 0.05 accuracy.
  const falls = (g: GammaSweepPoint) => g !== best && (g.hi !== undefined && best.lo !== undefined ? g.hi < best.lo : g.accuracy < best.accuracy - 0.05);
  const [weakest, strongest] = [sweep[0], sweep.at(-1)!];
  const edge = (g: GammaSweepPoint) => `gamma ${g.gamma} ${g.accuracy}${interval(g)}`;
  const helped = sweep.filter((g) => g.gain.mean > 0.05);
  return {
    claim: `Only provers in a middle band help: too weak or too strong ones give near-zero advantages (${advantages})`,
    paper: 'Gains for gamma of about 8..15 out of 1..17 (PAV Fig. 3b)',
    ours:
      `accuracy averaged over ${settings.sweep.iterations} iterations: weakest ${edge(weakest)}, best ${edge(best)}, strongest ${edge(strongest)}; ` +
      `the weak end ${falls(weakest) ? 'falls below the best' : 'does not fall below the best'}, the strong end ${falls(strongest) ? 'does' : 'does not'}; ` +
      `mean gain over outcome-only (${baseline}) above 0.05 for ${helped.length} of ${sweep.length} provers`,
    held: falls(weakest) && falls(strongest) ? 'yes' : falls(weakest) || falls(strongest) ? 'partly' : 'no',
    note:
      (settings.sweep.seeds >= 2
        ? 'An end falls when its 95% t interval over seeds lies below the best prover\'s.'
        : 'One seed per prover: an end falls when it is more than 0.05 below the best prover; there is no interval.') +
      ' The gain over outcome-only is in the report\'s table; outcome-only either takes off within the budget or does not, so its spread over a few seeds is too wide to rank provers by.',
  };
}

/** Traces for the report: each policy's sampled responses with the exact per-token A^mu of the gamma prover. */
function traceRows(c: Collected, settings: PavDidacticSettings): PavDidacticResults['traces'] {
  const values = new PlantedValues(new PlantedProver(PAPER_PLANTED, settings.gamma));
  const sources: Array<[string, PassEvaluation | undefined]> = [
    ['warm start', c.warm[0]],
    [`effective reward, iteration ${settings.passAt.iteration}`, c.effective[0]?.pass],
    [`outcome only, iteration ${settings.passAt.iteration}`, c.outcome[0]?.pass],
  ];
  return sources.flatMap(([policy, pass]) =>
    (pass?.traces ?? []).map((tokens) => {
      return { policy, tokens, advantages: values.responseAdvantages(tokens).map(sig4), reward: plantedReward(PAPER_PLANTED, tokens) };
    }),
  );
}

export function plantedContent(tokens: number[]): number[] {
  const end = tokens.indexOf(PAPER_PLANTED.eosToken);
  return end < 0 ? tokens : tokens.slice(0, end);
}

export function interval(m: { lo?: number; hi?: number }): string {
  return m.lo === undefined ? '' : ` [${r4(m.lo)}, ${r4(m.hi!)}]`;
}

/** "0.068% [0.03%, 0.12%] (11 of 16384)": a warm start's accuracy with its count. */
export function warmText(warm: WarmStartInfo): string {
  const total = warm.correct.reduce((a, b) => a + b, 0);
  return `${percent(warm.accuracy.mean)} [${percent(warm.accuracy.lo!)}, ${percent(warm.accuracy.hi!)}] (${total} of ${warm.samples * warm.correct.length})`;
}

/** A small fraction as a percentage with 2 significant digits: 0.00068 -> "0.068%". */
function percent(x: number): string {
  return `${Number((x * 100).toPrecision(2))}%`;
}

/** The sensitivity pair's results, if the settings had one. */
export function sensitivityOf(results: PavDidacticResults): SensitivityResults | undefined {
  return Object.values(results.sensitivity ?? {})[0];
}

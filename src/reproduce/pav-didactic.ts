/**
 * `prl reproduce pav-didactic`: Fig. 3 of PAV (Setlur et al., "Rewarding Progress", arXiv 2410.08146,
 * Sec. 3.3 and App. B; SPEC.md "PAV: the didactic task") on the `planted` task.
 *
 * (a) Accuracy against RL iterations for the effective reward Q^pi + alpha A^mu (estimator `pav`, the
 *     exact prover `oracle:gamma=10`, alpha = 1) and for outcome-only RL (alpha = 0: the same code path,
 *     whose update is then the leave-one-out outcome update); the iteration at which each first reaches
 *     90% and their ratio (the paper: about 10x fewer iterations with the effective reward).
 * (b) Accuracy averaged over training for provers mu(gamma), gamma = 1..17 (the paper: gains only in a
 *     middle band, about 8..15, since too weak and too strong provers give near-zero advantages).
 * (c) pass@N, N = 2..256, at iteration 100 for both arms, beside the warm start.
 * Sensitivity (optional, beside the headline, never in it): the two arms of (a) again with another policy or
 *     warm start, e.g. the toolkit's transformer instead of MADE, or a weaker SFT.
 *
 * The policy, as in the paper, is a MADE network of 3 layers of 128 units after the paper's supervised warm
 * start (50 iterations of batch 64 on 3200 samples of mu(5)), trained by src/pav/made-rl.ts with the `pav`
 * estimator's own advantage function. A warm start given as a model folder or an SFT recipe is the engine's
 * Llama instead, and each of its runs is an ordinary `prl rl` run (src/train/rl.ts). Accuracy is the fraction
 * of correct samples in each iteration's batch of 64 on-policy samples (drawn before that iteration's
 * update), so it costs no extra sampling; planted has a single (empty) prompt, so the batch is an unbiased
 * estimate of the policy's accuracy.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { passAtK } from '../algos/index.js';
import { createEngine, type Engine } from '../engine/kernels/index.js';
import type { MadeModel } from '../engine/made.js';
import { loadModel } from '../engine/io.js';
import { lineChartWithBands, logXLineChart, type ChartSvg } from '../report/charts.js';
import { renderReportPage, type ClaimRow, type Trace } from '../report/html.js';
import { writeExperimentReport, type ResultsHeader } from '../report/results.js';
import { getTask } from '../tasks/index.js';
import { PAPER_PLANTED, PlantedProver, plantedReward, PlantedValues } from '../tasks/planted.js';
import { createCodec, TOKEN_TASK_SYMBOLS } from '../train/codec.js';
import { resolveConfig, rlConfigSchema, type RlConfig, type SftConfig } from '../train/config.js';
import { evaluatePolicy, evaluationSeed } from '../train/evaluate.js';
import { runRl, type RlMetricsRow } from '../train/rl.js';
import { RunFolder } from '../train/run-folder.js';
import { warmStartConfig, warmStartModel } from '../train/warm-start.js';
import { inputError } from '../util/errors.js';
import { readJsonFile, writeJsonAtomic } from '../util/fs.js';
import { formatDuration, type Progress } from '../util/progress.js';
import { wilsonInterval } from '../pav/labels.js';
import { PAPER_MADE_WARM_START, runMadeRl, sampleMade, trainMadeWarmStart, type MadeWarmStartConfig } from '../pav/made-rl.js';
import { seedInterval, type MeanInterval } from './stats.js';
import { defineExperiment } from './types.js';
import { mean, r4, roundInterval, sig4, signed } from './numbers.js';
import { readRunRows } from './runs.js';

/** Everything that decides the experiment's numbers. */
export interface PavDidacticSettings {
  /** Seeds of the two arms of (a) and (c). */
  seeds: number;
  /** The warm start of (a), (b) and (c). */
  start: WarmStartSpec;
  /** RL iterations of (a); each is one batch of `batchSize` samples and one Adam update. */
  iterations: number;
  batchSize: number;
  lr: number;
  /** The effective reward's alpha and the prover's gamma in (a) and (c) (paper: 1 and 10). */
  alpha: number;
  gamma: number;
  /** Accuracy at which "reached" is read, over a trailing window of `window` iterations (paper: 90%). */
  threshold: number;
  /** Iterations per curve point, and of the trailing window of the threshold. */
  window: number;
  /**
   * (b): provers swept, seeds and iterations per prover (alpha as above). With `proverRollouts`, every prover is
   * swept a second time with Q^mu estimated from that many Monte Carlo rollouts per step (paper's labels: n_mc = 20)
   * instead of exactly, as a PAV learned from Monte Carlo labels sees it (MADE policy only).
   */
  sweep: { gammas: number[]; seeds: number; iterations: number; proverRollouts?: number };
  /** (c): the iteration of pass@N and the samples drawn there (planted has one prompt). */
  passAt: { iteration: number; samples: number; maxN: number };
  /** Sampled traces shown in the report, per policy. */
  traces: number;
  /**
   * Draws of `passAt.samples` responses that measure each warm start's accuracy (draw s uses sampling seed s,
   * so the first `seeds` are (c)'s warm-start draws). Correct samples are rare there, so it takes many.
   */
  warmStartDraws: number;
  /**
   * Sensitivity pair: (a)'s two arms (same alpha, gamma and RL settings) from another warm start (another
   * policy, or a weaker SFT), with their own seeds and iterations, under results.sensitivity[key] and
   * out/runs/<key>/. Reported beside the headline arms; the headline criterion stays on those.
   */
  sensitivity?: { key: string; start: WarmStartSpec; seeds: number; iterations: number };
}

/**
 * The policy and its warm start: the paper's MADE network after its SFT (`made`, {} = the paper's recipe), or
 * the engine's Llama: a model folder, or the SFT recipe of the cached planted warm start ({} = the paper's).
 */
export type WarmStartSpec = { made: Partial<MadeWarmStartConfig> } | { model: string } | { recipe: Partial<SftConfig> };

/** Monte Carlo rollouts per prefix in the paper's PAV labels (SPEC "PAV: training data and verifier": n_mc = 20). */
const PAPER_MC_ROLLOUTS = 20;

/** The paper's RL settings (App. B) that every budget shares: batch 64, Adam lr 1e-3 constant, alpha 1, gamma 10. */
const PAPER_RL = { batchSize: 64, lr: 1e-3, alpha: 1, gamma: 10, threshold: 0.9 };

/**
 * The quick run, about 1 min 40 s of CPU: (a) 3 seeds x 2 arms x 1000 iterations of the MADE policy (the
 * effective reward passes 90% by about iteration 100; outcome-only took 290-1700 iterations in 3 trial seeds,
 * so some seeds stay censored and the ratio is then a lower bound), (b) six provers, one seed each, 200
 * iterations, exact and from 20 rollouts, (c) 1024 samples per policy; the sensitivity pair: the tiny Llama
 * from the paper's SFT recipe, 1 seed x 2 arms x 150 iterations (about 15 s).
 */
export const QUICK_SETTINGS: PavDidacticSettings = {
  seeds: 3,
  start: { made: {} },
  iterations: 1000,
  ...PAPER_RL,
  window: 10,
  sweep: { gammas: [1, 3, 6, 10, 14, 17], seeds: 1, iterations: 200, proverRollouts: PAPER_MC_ROLLOUTS },
  passAt: { iteration: 100, samples: 1024, maxN: 256 },
  traces: 2,
  warmStartDraws: 16,
  sensitivity: { key: 'transformer', start: { recipe: {} }, seeds: 1, iterations: 150 },
};

/**
 * The full run, about 25-30 minutes on one thread: (a) 5 seeds x 2 arms x 10,000 iterations (the paper's budget),
 * (b) every gamma 1..17 plus 25, 50, 100 and 1000 (to find where provers become too strong) with 3 seeds x 500
 * iterations, exact and from 20 rollouts, (c) 1024 samples per policy; the sensitivity pair: the tiny Llama
 * from the paper's SFT recipe, 5 seeds x 2 arms x 500 iterations (about 4 minutes).
 */
export const FULL_SETTINGS: PavDidacticSettings = {
  seeds: 5,
  start: { made: {} },
  iterations: 10_000,
  ...PAPER_RL,
  window: 10,
  sweep: { gammas: [...Array.from({ length: 17 }, (_, i) => i + 1), 25, 50, 100, 1000], seeds: 3, iterations: 500, proverRollouts: PAPER_MC_ROLLOUTS },
  passAt: { iteration: 100, samples: 1024, maxN: 256 },
  traces: 2,
  warmStartDraws: 32,
  sensitivity: { key: 'transformer', start: { recipe: {} }, seeds: 5, iterations: 500 },
};

/** One RL run: the effective reward (alpha > 0) or outcome-only (alpha = 0) with prover mu(gamma). */
export interface ArmSpec {
  alpha: number;
  gamma: number;
  iterations: number;
  /** Q^mu from this many Monte Carlo rollouts of the prover per step; absent: exact (MADE policy only). */
  proverRollouts?: number;
  /** Evaluate pass@N at this iteration (between two legs of the same run). */
  passAtIteration?: number;
}

/** Folder name of a run: every setting that changes its numbers. */
export function armId(arm: ArmSpec): string {
  const rollouts = arm.proverRollouts === undefined ? '' : `-mc${arm.proverRollouts}`;
  return `alpha${arm.alpha}-gamma${arm.gamma}${rollouts}-it${arm.iterations}${arm.passAtIteration === undefined ? '' : `-pass${arm.passAtIteration}`}`;
}

/** pass@N of one policy from `samples` draws, with the raw count it comes from. */
export interface PassEvaluation {
  samples: number;
  correct: number;
  /** Sampled responses (task tokens, end token and padding included) for the report's traces. */
  traces: number[][];
}

interface RunOutcome {
  arm: ArmSpec;
  seed: number;
  /** Batch accuracy at iterations 1..N. */
  accuracy: number[];
  pass?: PassEvaluation;
  /** Whether the run was found finished in its folder rather than trained now. */
  reused: boolean;
  /** Wall time of its training steps as the trainer measured them (sampling, scoring, update), summed. */
  stepSeconds: number;
}

/** A 95% interval; absent with one seed. */
export interface Bounds {
  lo?: number;
  hi?: number;
}

export interface CurvePoint extends Bounds {
  iteration: number;
  accuracy: number;
}

export interface ReachInfo {
  /** Per seed: the first iteration whose trailing-window accuracy is >= threshold; null if never within the budget. */
  perSeed: Array<number | null>;
  /** Mean over seeds with never-reached seeds counted at the budget (then a lower bound), and its t interval. */
  mean: number;
  lo?: number;
  hi?: number;
  reachedSeeds: number;
  lowerBound: boolean;
  /** Per seed: the first iteration with at least one correct sample in the batch (outcome-only learns nothing before it). */
  firstSuccess: Array<number | null>;
}

/** Both arms' iterations to the threshold and their ratio. */
export interface ArmComparison {
  threshold: number;
  window: number;
  effective: ReachInfo;
  outcome: ReachInfo;
  /** mean outcome iteration / mean effective iteration; a lower bound when `ratioLowerBound`. */
  ratio: number | null;
  ratioLowerBound: boolean;
  /** Per-seed ratios (paired by seed) with a t interval, when every seed of both arms reached the threshold. */
  perSeedRatio?: MeanInterval & { perSeed: number[] };
}

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

/** One prover of the sweep: accuracy averaged over training (95% t interval over seeds) and its gain over outcome-only. */
export type GammaSweepPoint = Bounds & { gamma: number; accuracy: number; gain: MeanInterval; perSeed: number[] };

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

/**
 * A warm-started policy that can run (a)'s arms: the MADE network (runs in process, results cached as
 * `<runsDir>/<arm>/seed-<s>.json`) or the engine's Llama (each run a `prl rl` folder `<runsDir>/<arm>/seed-<s>/`).
 */
interface DidacticStart {
  policy: string;
  model: string;
  /** SFT iterations of its recipe; null for a model folder given as is. */
  sftIterations: number | null;
  runArm(arm: ArmSpec, seed: number, runsDir: string): Promise<RunOutcome>;
  /** `passAt.samples` draws of the warm start itself with sampling seed `seed`. */
  pass(seed: number): Promise<PassEvaluation>;
}

/** Runs every arm and seed into `out/runs/` (finished runs are reused), then writes results.json and report.html. */
export async function runPavDidactic(settings: PavDidacticSettings, options: { out: string; quick: boolean; threads?: number; progress: Progress }): Promise<PavDidacticResults> {
  const { out, progress, threads } = options;
  if (settings.sweep.proverRollouts !== undefined && !('made' in settings.start)) {
    throw inputError('pav-didactic: sweep.proverRollouts', 'the Monte Carlo sweep runs on the MADE policy only (start: { made: {} })');
  }
  const started = performance.now();
  const engine = await createEngine({ threads });
  try {
    const start = await openStart(settings.start, settings, engine, threads, progress);
    const effective: ArmSpec = { alpha: settings.alpha, gamma: settings.gamma, iterations: settings.iterations, passAtIteration: settings.passAt.iteration };
    const outcome: ArmSpec = { ...effective, alpha: 0 };
    const jobs: Array<{ arm: ArmSpec; seed: number }> = [];
    for (let seed = 0; seed < settings.seeds; seed++) jobs.push({ arm: effective, seed }, { arm: outcome, seed });
    const sweepArms = settings.sweep.gammas.map((gamma): ArmSpec => ({ alpha: settings.alpha, gamma, iterations: settings.sweep.iterations }));
    const { proverRollouts } = settings.sweep;
    const monteCarloArms = proverRollouts === undefined ? [] : sweepArms.map((arm): ArmSpec => ({ ...arm, proverRollouts }));
    const sweepBaseline: ArmSpec = { alpha: 0, gamma: settings.gamma, iterations: settings.sweep.iterations };
    for (let seed = 0; seed < settings.sweep.seeds; seed++) for (const arm of [sweepBaseline, ...sweepArms, ...monteCarloArms]) jobs.push({ arm: reuseCurveArm(arm, effective, outcome), seed });

    const other = settings.sensitivity;
    const otherStart = other ? await openStart(other.start, settings, engine, threads, progress) : null;
    const otherEffective: ArmSpec = { alpha: settings.alpha, gamma: settings.gamma, iterations: other?.iterations ?? 0 };
    const otherOutcome: ArmSpec = { ...otherEffective, alpha: 0 };
    const otherJobs: Array<{ arm: ArmSpec; seed: number }> = [];
    for (let seed = 0; seed < (other?.seeds ?? 0); seed++) otherJobs.push({ arm: otherEffective, seed }, { arm: otherOutcome, seed });

    const runKey = (job: { arm: ArmSpec; seed: number }) => `${armId(job.arm)}/seed-${job.seed}`;
    const total = new Set(jobs.map(runKey)).size + otherJobs.length;
    const outcomes = new Map<string, RunOutcome>();
    const otherOutcomes = new Map<string, RunOutcome>();
    const run = async (job: { arm: ArmSpec; seed: number }, policy: DidacticStart, runsDir: string, into: Map<string, RunOutcome>, label: string) => {
      const key = runKey(job);
      if (into.has(key)) return;
      const runStarted = performance.now();
      const result = await policy.runArm(job.arm, job.seed, runsDir);
      into.set(key, result);
      const done = outcomes.size + otherOutcomes.size;
      const elapsed = (performance.now() - started) / 1000;
      progress.log(
        `[${done}/${total}] ${label}${armLabel(job.arm)}, seed ${job.seed}: accuracy over training ${mean(result.accuracy).toFixed(3)}, last ${settings.window} iterations ` +
          `${mean(result.accuracy.slice(-settings.window)).toFixed(3)} (${Math.round((performance.now() - runStarted) / 1000)} s; about ${formatDuration((elapsed / done) * (total - done))} left)`,
      );
    };
    for (const job of jobs) await run(job, start, join(out, 'runs'), outcomes, '');
    for (const job of otherJobs) await run(job, otherStart!, join(out, 'runs', other!.key), otherOutcomes, `${other!.key}: `);
    const warmDraws = await warmStartPass(start, Math.max(settings.seeds, settings.warmStartDraws));
    const otherGet = (arm: ArmSpec) => Array.from({ length: other?.seeds ?? 0 }, (_, seed) => otherOutcomes.get(runKey({ arm, seed }))!);
    const get = (arm: ArmSpec, seed: number): RunOutcome => outcomes.get(runKey({ arm: reuseCurveArm(arm, effective, outcome), seed }))!;
    const seeds = Array.from({ length: settings.seeds }, (_, s) => s);
    const sweepSeeds = Array.from({ length: settings.sweep.seeds }, (_, s) => s);
    const results = summarise(settings, {
      effective: seeds.map((s) => get(effective, s)),
      outcome: seeds.map((s) => get(outcome, s)),
      sweep: sweepArms.map((arm) => ({ gamma: arm.gamma, runs: sweepSeeds.map((s) => get(arm, s)) })),
      sweepBaseline: sweepSeeds.map((s) => get(sweepBaseline, s)),
      monteCarlo: monteCarloArms.map((arm) => ({ gamma: arm.gamma, runs: sweepSeeds.map((s) => get(arm, s)) })),
      warm: warmDraws.slice(0, settings.seeds),
      warmDraws,
      start,
      other:
        other && otherStart
          ? { key: other.key, effective: otherGet(otherEffective), outcome: otherGet(otherOutcome), warm: await warmStartPass(otherStart, settings.warmStartDraws), start: otherStart }
          : null,
      quick: options.quick,
      seconds: (performance.now() - started) / 1000,
      all: [...outcomes.values(), ...otherOutcomes.values()],
    });
    writeExperimentReport(out, results, await buildReport(results));
    return results;
  } finally {
    await engine.kernels.dispose();
  }
}

/** The policy of a warm start: MADE (trained now, in `engine`'s arena) or the engine's Llama (cached SFT, or a folder). */
async function openStart(spec: WarmStartSpec, settings: PavDidacticSettings, engine: Engine, threads: number | undefined, progress: Progress): Promise<DidacticStart> {
  if ('made' in spec) {
    const config = { ...PAPER_MADE_WARM_START, ...spec.made };
    const model = trainMadeWarmStart(engine, config);
    return {
      policy: `MADE ${config.hidden.join('x')}`,
      model: `MADE ${JSON.stringify(config)}`,
      sftIterations: config.iterations,
      runArm: async (arm, seed, runsDir) => runMadeArm(engine, model, config, arm, seed, settings, runsDir),
      pass: async (seed) => madePass(sampleMade(model, settings.passAt.samples, seed), settings.traces),
    };
  }
  const model = 'model' in spec ? spec.model : await warmStartModel('planted', {}, { recipe: { ...spec.recipe, threads }, log: (line) => progress.log(line) });
  return {
    policy: 'tiny Llama',
    model,
    sftIterations: 'model' in spec ? null : warmStartConfig('planted', {}, spec.recipe).steps,
    runArm: (arm, seed, runsDir) => runArm(arm, seed, model, settings, runsDir, threads),
    pass: (seed) => passEvaluation(model, settings, seed, threads),
  };
}

/** One MADE arm and seed, reused when `<runsDir>/<arm>/seed-<s>.json` holds this exact run. */
function runMadeArm(engine: Engine, start: MadeModel, warmStart: MadeWarmStartConfig, arm: ArmSpec, seed: number, settings: PavDidacticSettings, runsDir: string): RunOutcome {
  const path = join(runsDir, armId(arm), `seed-${seed}.json`);
  const config = {
    iterations: arm.iterations,
    batchSize: settings.batchSize,
    lr: settings.lr,
    alpha: arm.alpha,
    gamma: arm.gamma,
    seed,
    ...(arm.proverRollouts === undefined ? {} : { proverRollouts: arm.proverRollouts }),
    ...(arm.passAtIteration === undefined ? {} : { passAt: { iteration: arm.passAtIteration, samples: settings.passAt.samples } }),
  };
  const key = { warmStart, rl: config, traces: settings.traces };
  if (existsSync(path)) {
    const saved = readJsonFile(path) as { key: unknown; accuracy: number[]; pass?: PassEvaluation; seconds: number };
    if (JSON.stringify(saved.key) === JSON.stringify(key)) return { arm, seed, accuracy: saved.accuracy, ...(saved.pass ? { pass: saved.pass } : {}), reused: true, stepSeconds: saved.seconds };
  }
  const result = runMadeRl(engine, start, config);
  const pass = result.passAt ? madePass(result.passAt, settings.traces) : undefined;
  mkdirSync(dirname(path), { recursive: true });
  writeJsonAtomic(path, { key, accuracy: result.accuracy, ...(pass ? { pass } : {}), seconds: result.seconds });
  return { arm, seed, accuracy: result.accuracy, ...(pass ? { pass } : {}), reused: false, stepSeconds: result.seconds };
}

/** A sweep run identical to one of (a)'s runs over the same iterations is that run (its pass@N leg does not change its numbers). */
function reuseCurveArm(arm: ArmSpec, effective: ArmSpec, outcome: ArmSpec): ArmSpec {
  for (const curve of [effective, outcome]) {
    const sameProver = (arm.gamma === curve.gamma && arm.proverRollouts === curve.proverRollouts) || arm.alpha === 0;
    if (arm.alpha === curve.alpha && arm.iterations === curve.iterations && sameProver) return curve;
  }
  return arm;
}

function armLabel(arm: ArmSpec): string {
  const rollouts = arm.proverRollouts === undefined ? '' : `, A^mu from ${arm.proverRollouts} rollouts`;
  return arm.alpha === 0 ? 'outcome only (alpha 0)' : `effective reward (alpha ${arm.alpha}, gamma ${arm.gamma}${rollouts})`;
}

/** pass@N counts and report traces from MADE draws. */
function madePass(draws: { responses: number[][]; rewards: number[] }, traces: number): PassEvaluation {
  return { samples: draws.responses.length, correct: draws.rewards.filter((r) => r > 0).length, traces: pickTraces(draws.responses, draws.rewards.map((r) => r > 0), traces) };
}

/** The `prl rl` config of one run (estimator pav, the exact planted prover, one prompt times the batch). */
export function armConfig(arm: ArmSpec, seed: number, startModel: string, settings: PavDidacticSettings, steps: number, threads?: number): RlConfig {
  const raw: Record<string, unknown> = {
    task: 'planted',
    model: startModel,
    estimator: 'pav',
    prover: `oracle:gamma=${arm.gamma}`,
    alpha: arm.alpha,
    steps,
    promptsPerStep: 1,
    groupSize: settings.batchSize,
    lr: settings.lr,
    lrSchedule: 'constant',
    // The accuracy is the training batch's reward, so no held-out evaluation and no per-step traces.
    evalEvery: 0,
    samplesPerStep: 0,
    checkpointEvery: arm.iterations,
    keepCheckpoints: 1,
    seed,
    ...(threads === undefined ? {} : { threads }),
  };
  return resolveConfig(rlConfigSchema, raw, `pav-didactic ${armId(arm)}`);
}

/**
 * One arm and seed, reused when its folder already holds this exact run. With `passAtIteration`, the run
 * goes in two legs: RL to that iteration, pass@N from its checkpoint, then `--resume` to the end (a resumed
 * run continues with identical numbers, so this is the same run as one of `iterations` steps).
 */
async function runArm(arm: ArmSpec, seed: number, startModel: string, settings: PavDidacticSettings, runsDir: string, threads?: number): Promise<RunOutcome> {
  const dir = join(runsDir, armId(arm), `seed-${seed}`);
  const config = armConfig(arm, seed, startModel, settings, arm.iterations, threads);
  const passPath = join(dir, 'pass-at-n.json');
  const passKey = { iteration: arm.passAtIteration, samples: settings.passAt.samples, traces: settings.traces };
  const reused = sameRun(dir, config, arm.passAtIteration === undefined ? null : { path: passPath, key: passKey });
  if (!reused) {
    rmSync(dir, { recursive: true, force: true });
    if (arm.passAtIteration !== undefined && arm.passAtIteration < arm.iterations) {
      await runRl(armConfig(arm, seed, startModel, settings, arm.passAtIteration, threads), dir, { quiet: true });
      const checkpoint = new RunFolder(dir).latestCheckpoint();
      if (!checkpoint) throw new Error(`${dir}: the first leg left no checkpoint`);
      writeJsonAtomic(passPath, { key: passKey, ...(await passEvaluation(checkpoint.dir, settings, seed, threads)) });
      await runRl(config, dir, { quiet: true, resume: true });
    } else {
      await runRl(config, dir, { quiet: true });
      if (arm.passAtIteration !== undefined) {
        const checkpoint = new RunFolder(dir).latestCheckpoint()!;
        writeJsonAtomic(passPath, { key: passKey, ...(await passEvaluation(checkpoint.dir, settings, seed, threads)) });
      }
    }
  }
  const rows = readRunRows<RlMetricsRow>(join(dir, 'metrics.jsonl')).filter((r) => r.reward !== undefined);
  return {
    arm,
    seed,
    accuracy: rows.map((r) => r.reward!),
    ...(arm.passAtIteration === undefined ? {} : { pass: readJsonFile(passPath) as PassEvaluation }),
    reused,
    stepSeconds: rows.reduce((sum, r) => sum + (r.time?.step_s ?? 0), 0),
  };
}

/** Whether `dir` holds a finished run of exactly this config (thread count aside) and, if asked, its pass@N file. */
function sameRun(dir: string, config: RlConfig, pass: { path: string; key: unknown } | null): boolean {
  if (!existsSync(join(dir, 'summary.json')) || !existsSync(join(dir, 'config.json'))) return false;
  if (pass && (!existsSync(pass.path) || JSON.stringify((readJsonFile(pass.path) as { key: unknown }).key) !== JSON.stringify(pass.key))) return false;
  const { threads: _a, ...want } = config;
  const { threads: _b, ...have } = readJsonFile(join(dir, 'config.json')) as RlConfig;
  return JSON.stringify(have) === JSON.stringify(want);
}

/** Draws `samples` responses of the policy in `modelDir` and counts the correct ones (for pass@N). */
async function passEvaluation(modelDir: string, settings: PavDidacticSettings, seed: number, threads?: number): Promise<PassEvaluation> {
  const engine = await createEngine({ threads });
  try {
    const { model, tokenizer } = loadModel(modelDir, engine, { trainable: false });
    const codec = createCodec(getTask('planted', {}), tokenizer);
    const { problems } = evaluatePolicy(model, codec, codec.problems('eval'), {
      samples: settings.passAt.samples,
      temperature: 1.0,
      maxNewTokens: codec.maxNewTokens,
      seed: evaluationSeed(seed, PASS_EVAL_STEP),
    });
    const [planted] = problems;
    const { length, eosToken } = PAPER_PLANTED;
    const tokens = planted.texts.map((text) => {
      const t = [...text].map((c) => TOKEN_TASK_SYMBOLS.indexOf(c));
      while (t.length < length) t.push(eosToken);
      return t;
    });
    return { samples: settings.passAt.samples, correct: planted.correct.filter(Boolean).length, traces: pickTraces(tokens, planted.correct, settings.traces) };
  } finally {
    await engine.kernels.dispose();
  }
}

/** The pass@N evaluations use this pseudo-step for their seed, so every policy of one seed draws with the same stream. */
const PASS_EVAL_STEP = 1_000_000;

/** A warm start's pass@N, once per seed (different sampling seeds, the same policy). */
async function warmStartPass(start: DidacticStart, seeds: number): Promise<PassEvaluation[]> {
  const evaluations: PassEvaluation[] = [];
  for (let seed = 0; seed < seeds; seed++) evaluations.push(await start.pass(seed));
  return evaluations;
}

/** Up to `count` responses (task tokens, padded with the end token): a correct one first, then a wrong one. */
function pickTraces(responses: readonly number[][], correct: readonly boolean[], count: number): number[][] {
  const order = [...responses.keys()].sort((a, b) => Number(correct[b]) - Number(correct[a]));
  return [...new Set([order[0], order[order.length - 1]])].slice(0, count).map((i) => [...responses[i]]);
}

/** Curve points: accuracy averaged over consecutive windows of `window` iterations, mean over seeds with a t interval. */
export function accuracyCurve(runs: readonly number[][], window: number): CurvePoint[] {
  const iterations = Math.min(...runs.map((r) => r.length));
  const points: CurvePoint[] = [];
  for (let end = window; end <= iterations; end += window) {
    const perSeed = runs.map((r) => mean(r.slice(end - window, end)));
    const interval = seedInterval(perSeed);
    points.push({ iteration: end, accuracy: r4(interval.mean), ...bounds(interval) });
  }
  return points;
}

/** The first iteration (1-based) whose trailing window of `window` iterations averages >= threshold; null if none. */
export function firstReach(accuracy: readonly number[], threshold: number, window: number): number | null {
  let sum = 0;
  for (let t = 0; t < accuracy.length; t++) {
    sum += accuracy[t];
    if (t >= window) sum -= accuracy[t - window];
    if (t >= window - 1 && sum / window >= threshold) return t + 1;
  }
  return null;
}

function reachInfo(runs: readonly number[][], threshold: number, window: number): ReachInfo {
  const perSeed = runs.map((r) => firstReach(r, threshold, window));
  const counted = perSeed.map((t, s) => t ?? runs[s].length);
  const interval = seedInterval(counted);
  const reachedSeeds = perSeed.filter((t) => t !== null).length;
  const firstSuccess = runs.map((r) => {
    const t = r.findIndex((a) => a > 0);
    return t < 0 ? null : t + 1;
  });
  const lowerBound = reachedSeeds < perSeed.length;
  // Iterations to a threshold, to a tenth. A seed that never gets there counts as the budget, so the mean is
  // a lower bound and a t interval around it would describe the budget, not the arm: none is given then.
  const tenth = (x: number) => Math.round(x * 10) / 10;
  const range = lowerBound || interval.lo === undefined ? {} : { lo: tenth(interval.lo), hi: tenth(interval.hi!) };
  return { perSeed, mean: tenth(interval.mean), ...range, reachedSeeds, lowerBound, firstSuccess };
}

/** pass@n (unbiased estimator, SPEC "Metrics") for n = 2, 4, .., maxN from each seed's count; mean over seeds with a t interval. */
export function passCurve(evaluations: readonly PassEvaluation[], maxN: number): Array<Bounds & { n: number; pass: number }> {
  const ns: number[] = [];
  for (let n = 2; n <= Math.min(maxN, evaluations[0].samples); n *= 2) ns.push(n);
  return ns.map((n) => {
    const interval = seedInterval(evaluations.map((e) => passAtK(e.samples, e.correct, n)));
    return { n, pass: r4(interval.mean), ...bounds(interval) };
  });
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

/** Iterations to the threshold of both arms (paired by seed) and the ratio outcome-only / effective. */
export function compareArms(effective: readonly number[][], outcome: readonly number[][], threshold: number, window: number): ArmComparison {
  const effectiveReach = reachInfo(effective, threshold, window);
  const outcomeReach = reachInfo(outcome, threshold, window);
  const allReached = !effectiveReach.lowerBound && !outcomeReach.lowerBound;
  // With a censored effective arm the ratio has no bound either way.
  const ratio = effectiveReach.lowerBound ? null : sig4(outcomeReach.mean / effectiveReach.mean);
  const perSeedRatios = allReached ? effectiveReach.perSeed.map((t, s) => outcomeReach.perSeed[s]! / t!) : null;
  return {
    threshold,
    window,
    effective: effectiveReach,
    outcome: outcomeReach,
    ratio,
    ratioLowerBound: outcomeReach.lowerBound,
    ...(perSeedRatios ? { perSeedRatio: { ...roundInterval(seedInterval(perSeedRatios)), perSeed: perSeedRatios.map(sig4) } } : {}),
  };
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
function ratioText(reach: ArmComparison): string {
  return reach.ratio === null ? 'undetermined (the effective reward did not reach it in every seed)' : `${reach.ratioLowerBound ? '>= ' : ''}${reach.ratio}x`;
}

function startName(sft: number | null): string {
  return sft === null ? 'the given model' : sft === PAPER_SFT_ITERATIONS ? `the paper's SFT recipe (${sft} iterations)` : `${sft} SFT iterations`;
}

/** "MADE 128x128x128 after the paper's SFT recipe (50 iterations)": the policy and its warm start. */
function startText(warm: { policy: string; sftIterations: number | null }): string {
  return warm.sftIterations === null ? `${warm.policy} (a given model folder)` : `${warm.policy} after ${startName(warm.sftIterations)}`;
}

/** The planted warm start's SFT iterations in the paper (App. B) and in our default recipe. */
const PAPER_SFT_ITERATIONS = 50;

/** Aggregates the runs into results.json: curves, time to the threshold, the gamma sweep, pass@N, claims. */
function summarise(settings: PavDidacticSettings, c: Collected): PavDidacticResults {
  const { threshold, window } = settings;
  const reach = compareArms(c.effective.map((r) => r.accuracy), c.outcome.map((r) => r.accuracy), threshold, window);
  const { effective: effectiveReach, outcome: outcomeReach } = reach;
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
  const reachText = (r: ReachInfo, budget: number) => (r.reachedSeeds === 0 ? `never within ${budget}` : `${r.lowerBound ? '>= ' : ''}${r.mean}`);
  const best = gammaSweep.reduce((a, b) => (b.accuracy > a.accuracy ? b : a), gammaSweep[0]);
  const otherText = other
    ? `; ${ratioText(other.reach)} with ${startText(other.warmStart)} (accuracy ${percent(other.warmStart.accuracy.mean)}, ` +
      `${other.seeds} seed${other.seeds === 1 ? '' : 's'} x ${other.iterations} iterations)`
    : '';
  const headline =
    `${c.quick ? 'Quick run: ' : ''}${settings.seeds} seeds: the effective reward (gamma ${settings.gamma}) reached ${Math.round(threshold * 100)}% accuracy at iteration ` +
    `${reachText(effectiveReach, settings.iterations)}, outcome-only at ${reachText(outcomeReach, settings.iterations)} ` +
    `(${ratioText(reach)} sooner with ${startText(warmStart)}, warm start accuracy ${percent(warmStart.accuracy.mean)}${otherText}; paper ~10x); ` +
    `best prover in the sweep gamma ${best.gamma} (accuracy over training ${best.accuracy} vs outcome-only ${r4(baseline.mean)}).`;
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

/** How strong mu(gamma) is: its success probability from the start, and E_mu |A^mu| of its first action (exact, by DP). */
export function proverStrength(gamma: number): { gamma: number; v0: number; meanAbsAdvantage: number } {
  const values = new PlantedValues(new PlantedProver(PAPER_PLANTED, gamma));
  const p = values.prover.distribution(0, false);
  const v0 = values.stateValue([]);
  const q = values.actionValues([]);
  const meanAbsAdvantage = Array.from(q).reduce((s, qa, a) => s + p[a] * Math.abs(qa - v0), 0);
  return { gamma, v0: sig4(v0), meanAbsAdvantage: sig4(meanAbsAdvantage) };
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

function plantedContent(tokens: number[]): number[] {
  const end = tokens.indexOf(PAPER_PLANTED.eosToken);
  return end < 0 ? tokens : tokens.slice(0, end);
}

async function buildReport(results: PavDidacticResults): Promise<string> {
  const { reach, pass_at_n: pass } = results;
  const series = (name: string, points: CurvePoint[]) => ({ name, points: points.map((p) => ({ x: p.iteration, y: p.accuracy, ...(p.lo === undefined ? {} : { lo: clamp01(p.lo), hi: clamp01(p.hi!) }) })) });
  const config = results.config as unknown as PavDidacticSettings;
  const curveChart = await lineChartWithBands({
    series: [series(`effective reward (alpha ${config.alpha}, gamma ${config.gamma})`, results.curves.effective), series('outcome only (alpha 0)', results.curves.outcome)],
    xTitle: 'RL iteration',
    yTitle: 'Accuracy (training batch)',
    yDomain: [0, 1],
  });
  const sweepSeries = (name: string, points: readonly GammaSweepPoint[]) => ({
    name,
    points: points.map((g) => ({ x: g.gamma, y: g.accuracy, ...(g.lo === undefined ? {} : { lo: clamp01(g.lo), hi: clamp01(g.hi!) }) })),
  });
  const sweepChart = await lineChartWithBands({
    series: [
      sweepSeries(`effective reward (alpha ${config.alpha})`, results.gamma_sweep),
      ...(results.gamma_sweep_monte_carlo ? [sweepSeries(`effective reward, A^mu from ${results.gamma_sweep_monte_carlo.rollouts} rollouts`, results.gamma_sweep_monte_carlo.points)] : []),
      { name: 'outcome only (alpha 0)', points: results.gamma_sweep.map((g) => ({ x: g.gamma, y: results.sweep_baseline.accuracy })) },
    ],
    xTitle: 'Prover gamma',
    yTitle: `Accuracy averaged over ${config.sweep.iterations} iterations`,
    yDomain: [0, 1],
    showPoints: true,
  });
  const passSeries = (name: string, points: Array<{ n: number; pass: number; lo?: number; hi?: number }>) => ({
    name,
    points: points.map((p) => ({ x: p.n, y: p.pass, ...(p.lo === undefined ? {} : { lo: clamp01(p.lo), hi: clamp01(p.hi!) }) })),
  });
  const passChart = await logXLineChart({
    series: [passSeries('effective reward', pass.effective), passSeries('outcome only', pass.outcome), passSeries('warm start (before RL)', pass.warm_start)],
    xTitle: 'N (samples)',
    yTitle: `pass@N at iteration ${pass.iteration}`,
    logBase: 2,
    yDomain: [0, 1],
  });
  const other = sensitivityOf(results);
  const otherChart = other
    ? await lineChartWithBands({
        series: [series(`effective reward (alpha ${config.alpha}, gamma ${config.gamma})`, other.curves.effective), series('outcome only (alpha 0)', other.curves.outcome)],
        xTitle: 'RL iteration',
        yTitle: 'Accuracy (training batch)',
        yDomain: [0, 1],
      })
    : null;
  const quickNote = results.quick
    ? 'This is the quick run: fewer seeds, iterations and provers than the full run. The planted task is small enough that its numbers already mean something, but the intervals are wide.'
    : null;
  const reachRows = [
    ['effective reward', ...reach.effective.perSeed.map((t) => (t === null ? 'never' : String(t))), `${reach.effective.lowerBound ? '>= ' : ''}${reach.effective.mean}${interval(reach.effective)}`],
    ['outcome only', ...reach.outcome.perSeed.map((t) => (t === null ? 'never' : String(t))), `${reach.outcome.lowerBound ? '>= ' : ''}${reach.outcome.mean}${interval(reach.outcome)}`],
    ['outcome only: first correct sample', ...reach.outcome.firstSuccess.map((t) => (t === null ? 'never' : String(t))), '-'],
  ];
  const gainText = (g: GammaSweepPoint) => `${signed(g.gain.mean)}${g.gain.lo === undefined ? '' : ` [${signed(g.gain.lo)}, ${signed(g.gain.hi!)}]`}`;
  const monteCarlo = results.gamma_sweep_monte_carlo;
  const sweepRows = results.gamma_sweep.map((g, i) => [
    g.gamma,
    `${g.accuracy}${interval(g)}`,
    gainText(g),
    ...(monteCarlo ? [`${monteCarlo.points[i].accuracy}${interval(monteCarlo.points[i])}`, gainText(monteCarlo.points[i])] : []),
    results.prover_strength[i].v0,
    results.prover_strength[i].meanAbsAdvantage,
  ]);
  const passRows = pass.effective.map((p, i) => [p.n, `${p.pass}${interval(p)}`, `${pass.outcome[i].pass}${interval(pass.outcome[i])}`, `${pass.warm_start[i].pass}${interval(pass.warm_start[i])}`]);
  const traces: Trace[] = results.traces.map((t) => ({
    title: `${t.policy}: reward ${t.reward}`,
    steps: plantedContent(t.tokens)
      .concat(t.tokens.includes(PAPER_PLANTED.eosToken) ? [PAPER_PLANTED.eosToken] : [])
      .map((a, h) => ({ text: a === PAPER_PLANTED.eosToken ? ' <end>' : ` ${a}`, value: t.advantages[h] })),
    outcome: t.reward >= 1 ? 'correct (contains 3 6 0 3 5)' : 'wrong',
  }));
  return renderReportPage({
    title: results.title,
    summary: `${results.headline} ${quickNote ?? ''}`.trim(),
    indexHref: '../index.html',
    sections: [
      {
        title: 'Sample efficiency: effective reward vs outcome-only',
        blocks: [
          ...(quickNote ? [{ kind: 'text' as const, text: quickNote }] : []),
          {
            kind: 'text',
            text:
              `Both arms start from the same warm start (${startText(results.warmStart)}, accuracy ${warmText(results.warmStart)}) and run the same RL loop with the pav estimator; ` +
              `outcome-only is alpha = 0, where the update is the leave-one-out outcome update. Accuracy is the ${results.accuracyDefinition}. ` +
              `Bands are 95% t intervals over ${results.seeds} seeds.`,
          },
          { kind: 'chart', svg: curveChart, caption: 'Accuracy against RL iteration (PAV Fig. 3a).' },
          {
            kind: 'table',
            caption: `First iteration whose trailing ${reach.window}-iteration accuracy is >= ${reach.threshold} (never: counted as the budget, so the mean is a lower bound)`,
            columns: ['Arm', ...reach.effective.perSeed.map((_, s) => `seed ${s}`), 'mean [95% interval]'],
            rows: reachRows,
          },
          {
            kind: 'text',
            text:
              reach.ratio === null
                ? 'The effective reward did not reach the threshold in every seed, so the ratio is undetermined.'
                : `Ratio of mean iterations (outcome-only / effective): ${reach.ratioLowerBound ? '>= ' : ''}${reach.ratio}` +
                  `${reach.perSeedRatio ? `; per-seed ratios ${reach.perSeedRatio.perSeed.join(', ')}, mean ${reach.perSeedRatio.mean}${interval(reach.perSeedRatio)}` : ''}.`,
          },
        ],
      },
      ...(other && otherChart ? [sensitivitySection(results, other, otherChart)] : []),
      {
        title: 'Which provers help',
        blocks: [
          ...(monteCarlo
            ? [
                {
                  kind: 'text' as const,
                  text:
                    `Each prover is swept twice: with A^mu exact (dynamic programming over the prover's automaton) and with Q^mu estimated from ${monteCarlo.rollouts} Monte Carlo rollouts ` +
                    'of the prover from every step, which is what a PAV learned from Monte Carlo labels can know. Adam divides each update by its running scale, so an exact ' +
                    'but tiny A^mu (a weak prover) still points the policy the right way; estimated from rollouts, the same tiny A^mu is almost always exactly 0.',
                },
              ]
            : []),
          { kind: 'chart', svg: sweepChart, caption: `Accuracy averaged over ${config.sweep.iterations} iterations for each prover mu(gamma), and outcome-only (PAV Fig. 3b).` },
          {
            kind: 'table',
            caption: 'Prover sweep: accuracy averaged over training, gain over outcome-only (paired by seed), and the prover itself (exact)',
            columns: [
              'gamma',
              'accuracy [95%]',
              'gain over outcome-only',
              ...(monteCarlo ? [`accuracy, ${monteCarlo.rollouts} rollouts`, `gain, ${monteCarlo.rollouts} rollouts`] : []),
              'V^mu at the start',
              'E|A^mu| of the first action',
            ],
            rows: sweepRows,
          },
        ],
      },
      {
        title: `pass@N at iteration ${pass.iteration}`,
        blocks: [
          { kind: 'chart', svg: passChart, caption: `pass@N from ${pass.samples} samples per seed (unbiased estimator), mean over seeds (PAV Fig. 3c).` },
          { kind: 'table', columns: ['N', 'effective reward', 'outcome only', 'warm start'], rows: passRows },
        ],
      },
      { title: "The paper's claims at this scale", blocks: [{ kind: 'claims', rows: results.claims }] },
      {
        title: 'Sampled responses with the prover\'s progress',
        blocks: [
          {
            kind: 'text',
            text:
              `Responses sampled from each policy, every token coloured by its progress A^mu(s, a) = Q^mu(s, a) - V^mu(s) under the gamma = ${config.gamma} prover ` +
              '(exact by dynamic programming): green tokens raise the prover\'s chance of completing 3 6 0 3 5, red ones lower it. The end token is shown as <end>.',
          },
          { kind: 'traces', valueLabel: 'A^mu (progress)', traces },
        ],
      },
      {
        title: 'Time',
        blocks: [
          {
            kind: 'text',
            text:
              `${results.timing.iterations} RL iterations in ${results.timing.runs} runs; their training steps took ${results.timing.stepSeconds} s as the trainer timed them ` +
              `(${results.timing.secondsPerIteration} s per iteration: sampling, the reference forward and the update). This invocation took ${results.timing.wallSeconds} s of wall time` +
              `${results.timing.reusedRuns > 0 ? `, reusing ${results.timing.reusedRuns} finished runs from an earlier one` : ''}. Step times depend on the machine's load; the numbers do not.`,
          },
        ],
      },
    ],
    config: results.config,
  });
}

/** The sensitivity pair's results, if the settings had one. */
function sensitivityOf(results: PavDidacticResults): SensitivityResults | undefined {
  return Object.values(results.sensitivity ?? {})[0];
}

/** The sensitivity section: the other warm start's curves and both warm starts side by side (their accuracy is part of the mechanism). */
function sensitivitySection(results: PavDidacticResults, other: SensitivityResults, chart: ChartSvg) {
  const perSeed = (ts: Array<number | null>) => ts.map((t) => (t === null ? 'never' : String(t))).join(', ');
  const row = (name: string, warm: WarmStartInfo, reach: ArmComparison, seeds: number, iterations: number) => [
    name,
    warmText(warm),
    `${seeds} x ${iterations}`,
    perSeed(reach.effective.perSeed),
    perSeed(reach.outcome.perSeed),
    perSeed(reach.outcome.firstSuccess),
    reach.ratio === null ? 'undetermined' : `${reach.ratioLowerBound ? '>= ' : ''}${reach.ratio}x`,
  ];
  return {
    title: `Sensitivity: ${startText(other.warmStart)}`,
    blocks: [
      {
        kind: 'text' as const,
        text:
          `The same two arms (same RL settings) with ${startText(other.warmStart)} instead of ${startText(results.warmStart)}. ` +
          'Outcome-only RL has no signal until a batch holds a correct sample, so how rarely the warm start samples the target sets its wait, and how far ' +
          'one correct sample carries sets how fast it climbs after; the effective reward has A^mu from the first batch. This is a sensitivity arm beside the headline.',
      },
      { kind: 'chart' as const, svg: chart, caption: `Accuracy against RL iteration with ${startText(other.warmStart)} (${other.seeds} seed${other.seeds === 1 ? '' : 's'}${other.seeds > 1 ? ', 95% t bands' : ''}).` },
      {
        kind: 'table' as const,
        caption: `Both warm starts: their accuracy (correct samples among all draws), and the first iteration whose trailing ${other.reach.window}-iteration accuracy is >= ${other.reach.threshold}, per seed`,
        columns: ['Warm start', 'accuracy [95% Wilson]', 'seeds x iterations', 'effective: reached at', 'outcome only: reached at', 'outcome only: first correct sample', 'ratio'],
        rows: [
          row(startText(results.warmStart), results.warmStart, results.reach, results.seeds, (results.config as unknown as PavDidacticSettings).iterations),
          row(startText(other.warmStart), other.warmStart, other.reach, other.seeds, other.iterations),
        ],
      },
    ],
  };
}


function interval(m: { lo?: number; hi?: number }): string {
  return m.lo === undefined ? '' : ` [${r4(m.lo)}, ${r4(m.hi!)}]`;
}

function bounds(m: MeanInterval): Bounds {
  return m.lo === undefined ? {} : { lo: r4(m.lo), hi: r4(m.hi!) };
}

/** "0.068% [0.03%, 0.12%] (11 of 16384)": a warm start's accuracy with its count. */
function warmText(warm: WarmStartInfo): string {
  const total = warm.correct.reduce((a, b) => a + b, 0);
  return `${percent(warm.accuracy.mean)} [${percent(warm.accuracy.lo!)}, ${percent(warm.accuracy.hi!)}] (${total} of ${warm.samples * warm.correct.length})`;
}

/** A small fraction as a percentage with 2 significant digits: 0.00068 -> "0.068%". */
function percent(x: number): string {
  return `${Number((x * 100).toPrecision(2))}%`;
}

function clamp01(x: number): number {
  return Math.min(1, Math.max(0, x));
}

/** The registry entry. */
export const pavDidactic = defineExperiment('pav-didactic', "PAV's didactic planted task (Fig. 3): effective reward vs outcome-only RL, prover gamma sweep, pass@N", { quick: QUICK_SETTINGS, full: FULL_SETTINGS }, runPavDidactic);

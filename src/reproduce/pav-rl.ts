/**
 * `prl reproduce pav-rl`: online RL with PAV's per-step effective reward Q^pi + alpha A^mu (Setlur et al.,
 * arXiv 2410.08146, Sec. 5; SPEC.md "PAV: definitions") against outcome-only RL, from the same warm start
 * with the same seeds and data order.
 *
 * Outcome-only RL is the `rloo` estimator: the Monte Carlo return r_i with the leave-one-out group
 * baseline on every token, which is exactly the Q^pi part of the `pav` estimator (PAV with alpha = 0), so
 * the two arms differ only in the prover's progress term. Two tasks:
 * - `planted` (the didactic task): the exact prover mu(gamma) (`oracle:gamma=G`), and a verifier learned
 *   from Monte Carlo labels of the same prover's rollouts, so a perfect and a learned verifier of one
 *   and the same mu are compared; the learned one is also scored against the exact values.
 * - `arith` (the paper's main claim, scaled down): the learned verifier of `prepareArithPav` (Bo4 prover
 *   of the policy), for a small grid of alpha around the paper's 3-5.
 * Metrics: held-out accuracy (avg@n) during training, steps to reach accuracy thresholds and the ratio
 * outcome steps / PAV steps (a lower bound when outcome-only never gets there), final accuracy.
 */
import { existsSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { mean, stepEnds } from '../algos/index.js';
import { createEngine } from '../engine/kernels/index.js';
import { loadModel } from '../engine/io.js';
import { generate } from '../engine/sampler.js';
import { labelProblems, wilsonInterval } from '../pav/labels.js';
import { openProver, rlProver } from '../pav/rl.js';
import { plantedOracleRoller } from '../pav/rollers.js';
import { createVerifier, examplesFromLabels, saveVerifier } from '../pav/verifier.js';
import { lineChartWithBands } from '../report/charts.js';
import { renderReportPage, type ClaimRow, type ReportSection, type Trace } from '../report/html.js';
import { writeExperimentReport, type ResultsHeader } from '../report/results.js';
import { getTask } from '../tasks/index.js';
import { createCodec } from '../tasks/codec.js';
import { resolveConfig, rlConfigSchema, type RlConfig, type SftConfig } from '../train/config.js';
import { runRl, type RlMetricsRow } from '../train/rl.js';
import { RunFolder } from '../train/run-folder.js';
import { warmStartModel } from '../train/warm-start.js';
import { readJsonFile, writeJsonAtomic } from '../util/fs.js';
import { formatDuration, type Progress } from '../util/progress.js';
import { Rng } from '../util/rng.js';
import { ARITH_PAV_FULL, ARITH_PAV_QUICK, prepareArithPav, trainVerifierWithProgress, type ArithPav, type ArithPavSettings } from './arith-pav.js';
import { pairedBootstrap, seedInterval, type MeanInterval } from './stats.js';
import { defineExperiment } from './types.js';
import { r4, roundInterval, sig, signed, sum } from './numbers.js';
import { checkpointWeights, finalEvaluation, isSameRun, readRunRows, type FinalEvaluation } from './runs.js';
import { describeUserModel, type UserModel } from './user-model.js';

/** Accuracy levels for steps-to-threshold: absolute, or gains over each run's step-0 (warm-start) accuracy. */
export interface Thresholds {
  from: 'absolute' | 'warm-start';
  values: number[];
}

/** Shared by both tasks: the RL budget, the thresholds and the final evaluation. */
interface TaskSettings {
  rl: Partial<RlConfig> & { steps: number; evalEvery: number; evalSamples: number };
  thresholds: Thresholds;
  /** n samples on each of the first `problems` held-out problems after training. */
  finalEval: { problems: number; samples: number };
}

/** The planted verifier: Monte Carlo labels of the prover's rollouts from policy seeds, then training. */
export interface PlantedVerifierSettings {
  nCov: number;
  nMc: number;
  steps: number;
  batchSize: number;
  lr: number;
  warmupSteps: number;
  seed: number;
}

export interface PlantedSettings extends TaskSettings {
  taskOptions: Record<string, unknown>;
  /** A model folder, or the SFT recipe of the cached planted warm start ({} = the paper's recipe). */
  start: { model: string } | { recipe: Partial<SftConfig> };
  gamma: number;
  alpha: number;
  /** null: the oracle arm only. */
  verifier: PlantedVerifierSettings | null;
}

export interface ArithSettings extends TaskSettings {
  pav: ArithPavSettings;
  alphas: number[];
}

export interface PavRlSettings {
  seeds: number;
  planted: PlantedSettings | null;
  arith: ArithSettings | null;
}

/** The paper's didactic RL recipe: batch 64 of the one (empty) prompt, Adam lr 1e-3 constant. */
const PLANTED_RL = { promptsPerStep: 1, groupSize: 64, lr: 1e-3, lrSchedule: 'constant' as const, evalProblems: 1, evalSamples: 256, samplesPerStep: 4 };
/** As prl-vs-grpo: 8 prompts x 5 responses, lr 1e-4, one PPO-clip update per batch. */
const ARITH_RL = { promptsPerStep: 8, groupSize: 5, lr: 1e-4, evalProblems: 128, evalSamples: 4, samplesPerStep: 5 };

/** ~2 minutes on 2 idle cores once the warm starts are cached: one seed, 100 planted and 40 arith steps. */
export const QUICK_SETTINGS: PavRlSettings = {
  seeds: 1,
  planted: {
    taskOptions: {},
    start: { recipe: {} },
    rl: { ...PLANTED_RL, steps: 100, evalEvery: 10 },
    gamma: 10,
    alpha: 1,
    verifier: { nCov: 1024, nMc: 16, steps: 400, batchSize: 64, lr: 1e-3, warmupSteps: 20, seed: 0 },
    thresholds: { from: 'absolute', values: [0.5, 0.9] },
    finalEval: { problems: 1, samples: 1024 },
  },
  arith: {
    pav: ARITH_PAV_QUICK,
    alphas: [3],
    rl: { ...ARITH_RL, steps: 40, evalEvery: 10 },
    thresholds: { from: 'warm-start', values: [0.02, 0.04] },
    finalEval: { problems: 300, samples: 8 },
  },
};

/** ~25 minutes idle (plus the shared arith labels and verifier once): 3 seeds, alpha in {1, 3, 5} on arith. */
export const FULL_SETTINGS: PavRlSettings = {
  seeds: 3,
  planted: {
    taskOptions: {},
    start: { recipe: {} },
    rl: { ...PLANTED_RL, steps: 300, evalEvery: 10 },
    gamma: 10,
    alpha: 1,
    verifier: { nCov: 2048, nMc: 32, steps: 1000, batchSize: 64, lr: 1e-3, warmupSteps: 20, seed: 0 },
    thresholds: { from: 'absolute', values: [0.5, 0.9] },
    finalEval: { problems: 1, samples: 1024 },
  },
  arith: {
    pav: ARITH_PAV_FULL,
    alphas: [1, 3, 5],
    rl: { ...ARITH_RL, steps: 60, evalEvery: 10 },
    // 60 steps raise held-out accuracy by ~0.18: gains of 0.02-0.04 are passed at the first evaluation by
    // every arm and say nothing, so the full run asks for about a half and three quarters of that rise.
    thresholds: { from: 'warm-start', values: [0.08, 0.12] },
    finalEval: { problems: 300, samples: 16 },
  },
};

/** One arm: a task, an estimator, and for PAV its prover and alpha. */
export interface ArmSpec {
  id: string;
  task: 'planted' | 'arith';
  label: string;
  estimator: 'rloo' | 'pav';
  prover?: 'oracle' | 'learned';
  alpha?: number;
}

/**
 * The settings on a user's model: the planted arms go (their task exists only for its own vocabulary); the
 * arith arms run on the user's task from the user's model, their verifier grown from it as in pav-search,
 * and their RL runs with its LoRA rank.
 */
export function withUserModel(settings: PavRlSettings, user: UserModel): PavRlSettings {
  const arith = settings.arith!;
  const { start: _trunk, ...verifier } = arith.pav.verifier;
  const pav: ArithPavSettings = { ...arith.pav, task: user.task, taskOptions: user.taskOptions, start: { model: user.startModel }, verifier, userModel: user.identity };
  return { ...settings, planted: null, arith: { ...arith, pav, rl: { ...arith.rl, loraRank: user.loraRank } } };
}

/** The task name of an arm's RL runs: planted, or the arith arms' task (arith, or the user's). */
function taskOf(arm: ArmSpec, settings: PavRlSettings): string {
  return arm.task === 'planted' ? 'planted' : (settings.arith!.pav.task ?? 'arith');
}

/** Outcome-only first on each task, then the PAV arms. */
export function armsOf(settings: PavRlSettings): ArmSpec[] {
  const arms: ArmSpec[] = [];
  const p = settings.planted;
  if (p) {
    arms.push({ id: 'planted-outcome', task: 'planted', label: 'planted: outcome only', estimator: 'rloo' });
    arms.push({ id: 'planted-pav-oracle', task: 'planted', label: `planted: PAV, exact prover (gamma ${p.gamma}, alpha ${p.alpha})`, estimator: 'pav', prover: 'oracle', alpha: p.alpha });
    if (p.verifier) arms.push({ id: 'planted-pav-learned', task: 'planted', label: `planted: PAV, learned verifier (alpha ${p.alpha})`, estimator: 'pav', prover: 'learned', alpha: p.alpha });
  }
  const a = settings.arith;
  if (a) {
    // The arith arms keep their ids (folder names) on a user's task; their labels name the task.
    const name = a.pav.task ?? 'arith';
    arms.push({ id: 'arith-outcome', task: 'arith', label: `${name}: outcome only`, estimator: 'rloo' });
    for (const alpha of a.alphas) arms.push({ id: `arith-pav-alpha${alpha}`, task: 'arith', label: `${name}: PAV, Bo4 verifier (alpha ${alpha})`, estimator: 'pav', prover: 'learned', alpha });
  }
  return arms;
}

/** Steps until a curve first reaches `threshold`; `reached: false` with `steps` = the last step when it never does. */
export interface StepsToThreshold {
  steps: number;
  reached: boolean;
}

/** The first evaluated step whose accuracy is >= threshold (curves are sorted by step). */
export function stepsToThreshold(curve: ReadonlyArray<{ step: number; value: number }>, threshold: number): StepsToThreshold {
  if (curve.length === 0) throw new RangeError('stepsToThreshold: empty curve');
  const hit = curve.find((p) => p.value >= threshold);
  return hit ? { steps: hit.step, reached: true } : { steps: curve[curve.length - 1].step, reached: false };
}

/**
 * Sample efficiency outcome steps / PAV steps. `exact` when both reach the threshold; `lower bound` when
 * only PAV does (outcome-only would need more than its whole budget); `upper bound` when only outcome-only
 * does; `neither` when neither does. Reaching it at step 0 (the warm start) takes 0 steps: the ratio is
 * then undefined (null) unless both are 0 (1, no difference).
 */
export function sampleEfficiency(outcome: StepsToThreshold, pav: StepsToThreshold): { ratio: number | null; bound: 'exact' | 'lower bound' | 'upper bound' | 'neither' } {
  if (!outcome.reached && !pav.reached) return { ratio: null, bound: 'neither' };
  const bound = outcome.reached && pav.reached ? 'exact' : pav.reached ? 'lower bound' : 'upper bound';
  if (pav.steps === 0) return { ratio: outcome.steps === 0 ? 1 : null, bound };
  return { ratio: outcome.steps / pav.steps, bound };
}

/** Newcombe's hybrid score interval for p1 - p2 from two Wilson intervals (Newcombe 1998, method 10). */
export function newcombeDifference(s1: number, n1: number, s2: number, n2: number): Required<MeanInterval> {
  const p1 = s1 / n1;
  const p2 = s2 / n2;
  const [l1, u1] = wilsonInterval(s1, n1);
  const [l2, u2] = wilsonInterval(s2, n2);
  const d = p1 - p2;
  return { mean: d, lo: d - Math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), hi: d + Math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2) };
}

interface RunOutcome {
  arm: ArmSpec;
  seed: number;
  rows: RlMetricsRow[];
  final: FinalEvaluation;
  traces: Array<Record<string, unknown>>;
}

export interface ThresholdResult {
  /** The accuracy level (absolute, after adding the warm-start accuracy where thresholds are gains). */
  threshold: number;
  /** Per seed: steps to reach it, and whether it was reached. */
  perSeed: StepsToThreshold[];
  /** Against outcome-only: per-seed ratios and the ratio of the mean steps. */
  efficiency?: { perSeed: Array<{ ratio: number | null; bound: string }>; ofMeans: { ratio: number | null; bound: string } };
}

export interface ArmResults {
  label: string;
  task: string;
  estimator: string;
  prover?: string;
  alpha?: number;
  /** Held-out avg@evalSamples during training: mean over seeds and its 95% interval. */
  curves: Array<{ step: number; avg: number; lo?: number; hi?: number }>;
  /** Final held-out avg@n: mean over seeds with its interval and where the interval comes from. */
  final: MeanInterval & { perSeed: number[]; interval: string };
  /** PAV arms: final avg@n minus outcome-only's, paired by seed (and problem). */
  difference?: MeanInterval & { interval: string };
  thresholds: ThresholdResult[];
  /** Mean over steps and seeds of the per-token advantage's spread (its scale, next to outcome-only's). */
  advStd: number;
}

export interface PavRlResults extends ResultsHeader {
  quick: boolean;
  seeds: number;
  config: Record<string, unknown>;
  arms: Record<string, ArmResults>;
  /** The learned planted verifier against the exact values of the same prover. */
  plantedVerifier?: VerifierQuality;
  /** The arith labels and verifier from prepareArithPav. */
  arithVerifier?: ArithPav['stats'];
  claims: ClaimRow[];
}

/** Runs every arm for every seed into `out/runs/<arm>/seed-<s>/`, then writes results.json and report.html. */
export async function runPavRl(settings: PavRlSettings, options: { out: string; quick: boolean; threads?: number; progress: Progress }): Promise<PavRlResults> {
  const { out, progress, threads } = options;
  const arms = armsOf(settings);
  const starts: Record<string, string> = {};
  const provers: Record<string, string> = {};
  let plantedVerifier: VerifierQuality | undefined;
  let arithPav: ArithPav | undefined;
  if (settings.planted) {
    const p = settings.planted;
    starts.planted = 'model' in p.start ? p.start.model : await warmStartModel('planted', p.taskOptions, { recipe: { ...p.start.recipe, threads }, log: (line) => progress.log(line) });
    provers['planted-pav-oracle'] = `oracle:gamma=${p.gamma}`;
    if (p.verifier) {
      const prepared = await preparePlantedVerifier(p, starts.planted, join(out, 'planted-verifier'), progress, threads);
      provers['planted-pav-learned'] = prepared.dir;
      plantedVerifier = prepared.quality;
    }
  }
  if (settings.arith) {
    arithPav = await prepareArithPav(settings.arith.pav, { progress, threads });
    starts.arith = arithPav.policy;
    for (const arm of arms.filter((a) => a.task === 'arith' && a.estimator === 'pav')) provers[arm.id] = arithPav.verifier;
  }
  const outcomes: RunOutcome[] = [];
  const started = performance.now();
  const total = arms.length * settings.seeds;
  for (let seed = 0; seed < settings.seeds; seed++) {
    for (const arm of arms) {
      const task = arm.task === 'planted' ? settings.planted! : settings.arith!;
      const taskOptions = arm.task === 'planted' ? settings.planted!.taskOptions : settings.arith!.pav.taskOptions;
      const outcome = await runArm(arm, seed, starts[arm.task], provers[arm.id], task, { name: taskOf(arm, settings), options: taskOptions, userModel: settings.arith?.pav.userModel }, out, threads);
      outcomes.push(outcome);
      const metric = `avg@${task.rl.evalSamples}`;
      const first = outcome.rows.find((r) => r.eval)?.eval?.[metric];
      const last = outcome.rows.filter((r) => r.eval).at(-1)?.eval?.[metric];
      const elapsed = (performance.now() - started) / 1000;
      progress.log(
        `[${outcomes.length}/${total}] ${arm.label}, seed ${seed}: held-out ${metric} ${fmt(first)} -> ${fmt(last)}, final avg@${outcome.final.n} ${fmt(mean(outcome.final.correct) / outcome.final.n)} ` +
          `(about ${formatDuration((elapsed / outcomes.length) * (total - outcomes.length))} left)`,
      );
    }
  }
  const results = summarise(settings, arms, outcomes, options.quick, plantedVerifier, arithPav?.stats);
  writeExperimentReport(out, results, await buildReport(results, outcomes, arms));
  return results;
}

/** What the learned planted verifier gets right, measured against the exact Q^mu on warm-start samples. */
export interface VerifierQuality {
  labels: { traces: number; pairs: number };
  /** Pearson correlation, mean absolute error and spreads of learned vs exact Q^mu and A^mu per step. */
  q: { correlation: number; mae: number; sdExact: number; sdLearned: number };
  advantage: { correlation: number; mae: number; sdExact: number; sdLearned: number };
  prefixes: number;
  seconds: number;
}

/** Labels the planted policy's samples with the exact prover's rollouts, trains a verifier, scores it against the exact values. */
async function preparePlantedVerifier(p: PlantedSettings, policyDir: string, dir: string, progress: Progress, threads?: number): Promise<{ dir: string; quality: VerifierQuality }> {
  const s = p.verifier!;
  const key = JSON.stringify({ policyDir, taskOptions: p.taskOptions, gamma: p.gamma, verifier: s });
  const metaPath = join(dir, 'prepare.json');
  if (existsSync(metaPath)) {
    const meta = readJsonFile(metaPath) as { key: string; quality: VerifierQuality };
    if (meta.key === key) return { dir, quality: meta.quality };
  }
  const started = performance.now();
  const engine = await createEngine({ threads });
  try {
    // Trainable: after labelling, the same model is the verifier's trunk.
    const { model, tokenizer } = loadModel(policyDir, engine);
    const codec = createCodec(getTask('planted', p.taskOptions), tokenizer);
    const problems = codec.problems('train');
    const prover = `oracle:gamma=${p.gamma}`;
    const rng = new Rng(s.seed);
    const records = labelProblems(model, plantedOracleRoller(codec, p.gamma, problems[0].promptTokens.length), codec, problems, {
      nCov: s.nCov,
      nMc: s.nMc,
      strategy: 'random',
      prover,
      temperature: 1,
      maxNewTokens: codec.maxNewTokens,
      rng,
    });
    const examples = examplesFromLabels(records, tokenizer);
    const verifier = createVerifier(model, engine, rng, { prover, task: 'planted', taskOptions: p.taskOptions });
    trainVerifierWithProgress(verifier, engine, examples, s, rng, progress, 'planted verifier');
    progress.done();
    rmSync(dir, { recursive: true, force: true });
    saveVerifier(dir, verifier, tokenizer);
    // Score it as RL will use it: the rewarder's Q^mu at the step ends of fresh warm-start samples.
    const samples = generate(model, Array.from({ length: 512 }, () => problems[0].promptTokens), { maxNewTokens: codec.maxNewTokens, temperature: 1, stopTokens: codec.stopIds, rng: new Rng(s.seed + 1) });
    const responses = samples.map((x) => x.tokens);
    const ends = responses.map((r) => {
      const read = codec.read(problems[0], r);
      return stepEnds(codec.stepSplit, { mask: read.mask, text: read.text, tokenOffsets: read.offsets, tokenIds: r });
    });
    const owners = responses.map(() => problems[0]);
    const exact = openProver(prover, engine, codec).values(owners, responses, ends);
    const learned = openProver(dir, engine, codec).values(owners, responses, ends);
    const pairsQ: Array<[number, number]> = [];
    const pairsA: Array<[number, number]> = [];
    exact.forEach((e, i) =>
      e.q.forEach((q, h) => {
        const l = learned[i];
        pairsQ.push([q, l.q[h]]);
        pairsA.push([q - (h === 0 ? e.v0 : e.q[h - 1]), l.q[h] - (h === 0 ? l.v0 : l.q[h - 1])]);
      }),
    );
    const quality: VerifierQuality = {
      labels: { traces: records.length, pairs: records.reduce((a, r) => a + r.q_mc.length, 0) },
      q: agreement(pairsQ),
      advantage: agreement(pairsA),
      prefixes: pairsQ.length,
      seconds: Math.round((performance.now() - started) / 1000),
    };
    writeJsonAtomic(metaPath, { key, quality });
    progress.log(`planted verifier: ${records.length} labelled traces; against the exact prover: Q correlation ${quality.q.correlation}, A correlation ${quality.advantage.correlation} (${quality.seconds} s)`);
    return { dir, quality };
  } finally {
    await engine.kernels.dispose();
  }
}

/** Pearson correlation, mean absolute error and population spreads of (exact, learned) pairs. */
export function agreement(pairs: ReadonlyArray<readonly [number, number]>): { correlation: number; mae: number; sdExact: number; sdLearned: number } {
  const n = pairs.length;
  if (n === 0) throw new RangeError('agreement: no pairs');
  const mx = pairs.reduce((s, [x]) => s + x, 0) / n;
  const my = pairs.reduce((s, [, y]) => s + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  let abs = 0;
  for (const [x, y] of pairs) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
    syy += (y - my) ** 2;
    abs += Math.abs(x - y);
  }
  const correlation = sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : 0;
  return { correlation: sig(correlation), mae: sig(abs / n), sdExact: sig(Math.sqrt(sxx / n)), sdLearned: sig(Math.sqrt(syy / n)) };
}

/** One arm and seed: RL (reused when the folder already holds this exact run), then the final evaluation. */
async function runArm(arm: ArmSpec, seed: number, startModel: string, prover: string | undefined, task: TaskSettings, on: { name: string; options: Record<string, unknown>; userModel?: unknown }, out: string, threads?: number): Promise<RunOutcome> {
  const dir = join(out, 'runs', arm.id, `seed-${seed}`);
  const raw: Record<string, unknown> = {
    task: on.name,
    taskOptions: on.options,
    model: startModel,
    estimator: arm.estimator,
    ...task.rl,
    ...(arm.alpha === undefined ? {} : { alpha: arm.alpha }),
    ...(prover === undefined ? {} : { prover }),
    seed,
    checkpointEvery: task.rl.steps,
    keepCheckpoints: 1,
    ...(threads === undefined ? {} : { threads }),
  };
  const config = resolveConfig(rlConfigSchema, raw, `pav-rl ${arm.id}`);
  const finalPath = join(dir, 'final-eval.json');
  // The user model's hashes join the identity: the same folder path with other weights in it trains anew.
  const records = [
    { path: finalPath, field: 'finalEval', value: task.finalEval },
    { path: finalPath, field: 'userModel', value: on.userModel },
  ];
  if (!isSameRun(dir, config, records)) {
    rmSync(dir, { recursive: true, force: true });
    await runRl(config, dir, { quiet: true, prover: rlProver(config) });
    const checkpoint = new RunFolder(dir).latestCheckpoint();
    if (!checkpoint) throw new Error(`${dir}: the run left no checkpoint`);
    const final = await finalEvaluation(checkpointWeights(checkpoint.dir, startModel), on.name, on.options, task.finalEval, seed, threads);
    writeJsonAtomic(finalPath, { finalEval: task.finalEval, ...(on.userModel === undefined ? {} : { userModel: on.userModel }), ...final });
  }
  const final = readJsonFile(finalPath) as FinalEvaluation;
  return { arm, seed, rows: readRunRows<RlMetricsRow>(join(dir, 'metrics.jsonl')), final, traces: readRunRows(join(dir, 'samples.jsonl')) };
}

/** A run's held-out accuracy curve (step, avg@n). */
function curveOf(run: RunOutcome, metric: string): Array<{ step: number; value: number }> {
  return run.rows.filter((r) => r.eval).map((r) => ({ step: r.step, value: r.eval![metric] as number }));
}

/** Aggregates runs into results.json: curves, thresholds, final accuracy and differences, claims. */
export function summarise(settings: PavRlSettings, arms: ArmSpec[], outcomes: RunOutcome[], quick: boolean, plantedVerifier?: VerifierQuality, arithVerifier?: ArithPav['stats']): PavRlResults {
  const byArm = new Map(arms.map((a) => [a.id, outcomes.filter((o) => o.arm.id === a.id).sort((x, y) => x.seed - y.seed)]));
  const results: Record<string, ArmResults> = {};
  for (const arm of arms) {
    const task = arm.task === 'planted' ? settings.planted! : settings.arith!;
    const metric = `avg@${task.rl.evalSamples}`;
    const runs = byArm.get(arm.id)!;
    const baseline = byArm.get(`${arm.task}-outcome`)!;
    const curves = runs[0].rows
      .filter((r) => r.eval)
      .map((row) => {
        const evals = runs.map((run) => run.rows.find((r) => r.step === row.step)!.eval!);
        const values = evals.map((e) => e[metric] as number);
        let interval: MeanInterval;
        if (runs.length >= 2) interval = seedInterval(values);
        else if (arm.task === 'planted') {
          // One problem: the bootstrap over problems is degenerate; the samples are the unit (Wilson).
          const [lo, hi] = wilsonInterval(Math.round(values[0] * task.rl.evalSamples), task.rl.evalSamples);
          interval = { mean: values[0], lo, hi };
        } else {
          const [lo, hi] = (evals[0].ci95 as Record<string, [number, number]>)[metric];
          interval = { mean: values[0], lo, hi };
        }
        return { step: row.step, avg: r4(interval.mean), ...(interval.lo === undefined ? {} : { lo: r4(interval.lo), hi: r4(interval.hi!) }) };
      });
    const finals = runs.map((r) => mean(r.final.correct) / r.final.n);
    const finalInterval =
      runs.length >= 2
        ? { ...seedInterval(finals), interval: 'seeds (t)' }
        : arm.task === 'planted'
          ? { mean: finals[0], ...bounds(wilsonInterval(sum(runs[0].final.correct), runs[0].final.n * runs[0].final.correct.length)), interval: 'Wilson over samples (1 seed, 1 problem)' }
          : { ...bootstrapMean(runs[0].final.correct.map((c) => c / runs[0].final.n)), interval: 'bootstrap over problems (1 seed)' };
    let difference: ArmResults['difference'];
    if (arm.estimator === 'pav') {
      if (runs.length >= 2) difference = { ...seedInterval(finals.map((f, s) => f - mean(baseline[s].final.correct) / baseline[s].final.n)), interval: 'seeds (t), paired by seed' };
      else if (arm.task === 'planted') {
        const a = runs[0].final;
        const b = baseline[0].final;
        difference = { ...newcombeDifference(sum(a.correct), a.n * a.correct.length, sum(b.correct), b.n * b.correct.length), interval: 'Newcombe over samples (1 seed)' };
      } else {
        difference = { ...pairedBootstrap(runs[0].final.correct.map((c) => c / runs[0].final.n), baseline[0].final.correct.map((c) => c / baseline[0].final.n), new Rng(0)), interval: 'paired bootstrap over problems (1 seed)' };
      }
    }
    const thresholds = task.thresholds.values.map((value): ThresholdResult => {
      const levels = runs.map((run) => (task.thresholds.from === 'absolute' ? value : (curveOf(run, metric)[0]?.value ?? 0) + value));
      const perSeed = runs.map((run, s) => stepsToThreshold(curveOf(run, metric), levels[s]));
      const result: ThresholdResult = { threshold: r4(mean(levels)), perSeed };
      if (arm.estimator === 'pav') {
        const outcomeSteps = baseline.map((run, s) => stepsToThreshold(curveOf(run, metric), levels[s]));
        const meanOf = (xs: StepsToThreshold[]): StepsToThreshold => ({ steps: mean(xs.map((x) => x.steps)), reached: xs.every((x) => x.reached) });
        const ofMeans = sampleEfficiency(meanOf(outcomeSteps), meanOf(perSeed));
        result.efficiency = {
          perSeed: perSeed.map((p, s) => roundRatio(sampleEfficiency(outcomeSteps[s], p))),
          // A seed that never reached the threshold counts as its whole budget, so the mean ratio is a bound.
          ofMeans: roundRatio(ofMeans),
        };
      }
      return result;
    });
    const advStd = mean(runs.flatMap((run) => run.rows.filter((r) => r.adv_std !== undefined).map((r) => r.adv_std!)));
    results[arm.id] = {
      label: arm.label,
      task: arm.task,
      estimator: arm.estimator,
      ...(arm.prover === undefined ? {} : { prover: arm.prover }),
      ...(arm.alpha === undefined ? {} : { alpha: arm.alpha }),
      curves,
      final: { ...roundInterval(finalInterval), perSeed: finals.map(r4), interval: finalInterval.interval },
      ...(difference ? { difference: { ...roundInterval(difference), interval: difference.interval } } : {}),
      thresholds,
      advStd: sig(advStd),
    };
  }
  const claims = claimRows(arms, results, settings.seeds);
  const user = settings.arith?.pav.userModel;
  return {
    experiment: 'pav-rl',
    title: `PAV-RL (effective reward Q^pi + alpha A^mu) vs outcome-only RL${user ? ` on the ${settings.arith!.pav.task} task, from ${basename(user.model)}` : ''}`,
    headline: `${user ? `On ${describeUserModel(user)}: ` : ''}${headlineOf(arms, results, quick)}`,
    finishedAt: new Date().toISOString(),
    quick,
    seeds: settings.seeds,
    config: { ...settings, arms: arms.map((a) => a.id) },
    arms: results,
    ...(plantedVerifier ? { plantedVerifier } : {}),
    ...(arithVerifier ? { arithVerifier } : {}),
    claims,
  };
}

function roundRatio(e: { ratio: number | null; bound: string }): { ratio: number | null; bound: string } {
  return { ratio: e.ratio === null ? null : sig(e.ratio), bound: e.bound };
}

function bounds([lo, hi]: [number, number]): { lo: number; hi: number } {
  return { lo, hi };
}

/** Percentile bootstrap of a mean over problems (1000 resamples, fixed seed). */
function bootstrapMean(scores: readonly number[]): Required<MeanInterval> {
  const zeros = scores.map(() => 0);
  return pairedBootstrap(scores, zeros, new Rng(0));
}

/** The efficiency at the highest threshold and the final difference, per PAV arm. */
function efficiencyText(r: ArmResults): string {
  const t = r.thresholds.at(-1)!;
  const e = t.efficiency!.ofMeans;
  const ratio = e.ratio === null ? 'n/a' : `${e.bound === 'lower bound' ? '>= ' : e.bound === 'upper bound' ? '<= ' : ''}${e.ratio}x`;
  return `${ratio} to reach ${t.threshold} (${e.bound})`;
}

function headlineOf(arms: ArmSpec[], results: Record<string, ArmResults>, quick: boolean): string {
  const parts = arms
    .filter((a) => a.estimator === 'pav')
    .map((a) => `${a.label.replace(/^(planted|arith): PAV, /, '$1, ')}: ${efficiencyText(results[a.id])}`);
  return `${quick ? 'Quick run: ' : ''}PAV-RL against outcome-only RL, steps to the highest accuracy threshold: ${parts.join('; ')} (paper: 5-6x).`;
}

function claimRows(arms: ArmSpec[], results: Record<string, ArmResults>, seeds: number): ClaimRow[] {
  const rows: ClaimRow[] = [];
  const scale = `${seeds} seed${seeds === 1 ? '' : 's'}`;
  const verdict = (ok: boolean[], some: boolean[]): ClaimRow['held'] => (ok.length > 0 && ok.every(Boolean) ? 'yes' : some.some(Boolean) ? 'partly' : 'no');
  const pavArith = arms.filter((a) => a.task === 'arith' && a.estimator === 'pav');
  if (pavArith.length > 0) {
    const effs = pavArith.map((a) => results[a.id].thresholds.at(-1)!.efficiency!.ofMeans);
    rows.push({
      claim: 'PAV-RL is 5-6x more sample-efficient than outcome-reward RL',
      paper: '5-6x fewer RL iterations to the ORM-RL accuracy (Gemma 2B/9B on MATH; arXiv 2410.08146 Sec. 5)',
      ours: pavArith.map((a) => `alpha ${a.alpha}: ${efficiencyText(results[a.id])}`).join('; ') + ` (arith, ${scale})`,
      held: verdict(
        effs.map((e) => e.ratio !== null && e.ratio >= 5 && e.bound !== 'upper bound'),
        effs.map((e) => e.ratio !== null && e.ratio > 1 && e.bound !== 'upper bound'),
      ),
      note: 'Ratio of the mean steps over seeds to reach the highest threshold; "lower bound" means outcome-only did not reach it within its budget.',
    });
    const diffs = pavArith.map((a) => results[a.id].difference!);
    rows.push({
      claim: 'PAV-RL beats outcome-reward RL by >6% accuracy',
      paper: '>6% higher accuracy than ORM-RL at the end of training (arXiv 2410.08146 Sec. 5)',
      ours: pavArith.map((a) => `alpha ${a.alpha}: ${signed(results[a.id].difference!.mean)} [${signed(results[a.id].difference!.lo!)}, ${signed(results[a.id].difference!.hi!)}]`).join('; ') + ` (arith final avg@n, ${scale})`,
      held: verdict(
        diffs.map((d) => d.lo! > 0.06),
        diffs.map((d) => d.lo! > 0),
      ),
      note: `Intervals: ${diffs[0].interval}. "Yes" needs the whole 95% interval above +0.06; "partly" above 0.`,
    });
  }
  for (const id of ['planted-pav-oracle', 'planted-pav-learned']) {
    const r = results[id];
    if (!r) continue;
    const e = r.thresholds.at(-1)!.efficiency!.ofMeans;
    rows.push({
      claim: `Didactic task: the effective reward learns far faster than outcome-only RL (${id.endsWith('oracle') ? 'exact prover' : 'learned verifier of the same prover'})`,
      paper: 'About 10x sample efficiency with the gamma = 10 prover and alpha = 1; outcome-only barely moves (exact prover, arXiv 2410.08146 Sec. 3.3)',
      ours: `${efficiencyText(r)}; final ${signed(r.difference!.mean)} [${signed(r.difference!.lo!)}, ${signed(r.difference!.hi!)}] (${scale})`,
      held: e.ratio !== null && e.ratio >= 5 && e.bound !== 'upper bound' ? 'yes' : e.ratio !== null && e.ratio > 1 && e.bound !== 'upper bound' ? 'partly' : 'no',
      note: id.endsWith('learned') ? 'The paper runs the didactic task with the exact prover only; the learned verifier is our comparison.' : undefined,
    });
  }
  return rows;
}

/** Builds the report page. */
async function buildReport(results: PavRlResults, outcomes: RunOutcome[], arms: ArmSpec[]): Promise<string> {
  const user = (results.config as unknown as PavRlSettings).arith?.pav.userModel;
  const quickNote = results.quick
    ? 'This is a quick smoke run: one seed and few RL steps (tiny model on arith unless --model gave one). It shows the pipeline works end to end; its numbers are not evidence for or against the paper.'
    : null;
  const modelNote = user ? `Every arm starts from the user's checkpoint: ${describeUserModel(user)}.` : null;
  const intervalNote =
    results.seeds >= 2
      ? `Intervals are 95% Student-t intervals over ${results.seeds} seeds.`
      : 'With one seed the intervals come from a single run (Wilson over samples on planted, bootstrap over problems on arith): they ignore training noise.';
  const sections: ReportSection[] = [];
  for (const task of ['planted', 'arith'] as const) {
    const taskArms = arms.filter((a) => a.task === task);
    if (taskArms.length === 0) continue;
    const evalSamples = (results.config as unknown as PavRlSettings)[task]!.rl.evalSamples;
    const chart = await lineChartWithBands({
      series: taskArms.map((a) => ({ name: results.arms[a.id].label, points: results.arms[a.id].curves.map((c) => ({ x: c.step, y: c.avg, ...(c.lo === undefined ? {} : { lo: c.lo, hi: c.hi }) })) })),
      xTitle: 'RL iteration',
      yTitle: `Held-out avg@${evalSamples}`,
      ...(task === 'planted' ? { yDomain: [0, 1] as [number, number] } : {}),
    });
    const thresholdRows = taskArms.flatMap((a) =>
      results.arms[a.id].thresholds.map((t) => [
        results.arms[a.id].label,
        t.threshold,
        t.perSeed.map((p) => (p.reached ? String(p.steps) : `> ${p.steps}`)).join(', '),
        t.efficiency ? `${t.efficiency.ofMeans.ratio ?? 'n/a'} (${t.efficiency.ofMeans.bound})` : '-',
      ]),
    );
    const finalRows = taskArms.map((a) => {
      const r = results.arms[a.id];
      return [r.label, `${r.final.mean} [${r.final.lo ?? '?'}, ${r.final.hi ?? '?'}]`, r.difference ? `${signed(r.difference.mean)} [${signed(r.difference.lo!)}, ${signed(r.difference.hi!)}]` : '-', r.advStd];
    });
    const blocks: ReportSection['blocks'] = [
      { kind: 'chart', svg: chart, caption: `Held-out avg@${evalSamples} during RL; bands are 95% intervals. ${intervalNote}` },
      { kind: 'table', caption: 'Iterations to reach each accuracy (per seed) and sample efficiency = outcome-only steps / PAV steps (of the mean over seeds)', columns: ['Arm', 'Accuracy', 'Steps per seed', 'Efficiency vs outcome-only'], rows: thresholdRows },
      { kind: 'table', caption: 'Final held-out accuracy and its difference to outcome-only (same seeds), with the spread of the per-token advantage during training', columns: ['Arm', 'Final avg@n [95%]', 'PAV - outcome [95%]', 'advantage std'], rows: finalRows },
    ];
    if (task === 'planted' && results.plantedVerifier) {
      const q = results.plantedVerifier;
      blocks.push({
        kind: 'table',
        caption: `The learned planted verifier against the exact Q^mu of the same prover, on ${q.prefixes} step prefixes of warm-start samples (${q.labels.traces} labelled traces, ${q.labels.pairs} labels)`,
        columns: ['Quantity', 'Correlation', 'Mean abs. error', 'Std (exact)', 'Std (learned)'],
        rows: [
          ['Q^mu', q.q.correlation, q.q.mae, q.q.sdExact, q.q.sdLearned],
          ['A^mu (progress)', q.advantage.correlation, q.advantage.mae, q.advantage.sdExact, q.advantage.sdLearned],
        ],
      });
    }
    if (task === 'arith' && results.arithVerifier) {
      const v = results.arithVerifier.verifier;
      blocks.push({
        kind: 'table',
        caption: 'The arith verifier (Bo4 prover) on held-out problems: the same labels and verifier as pav-search',
        columns: ['Labelled traces', 'Held-out prefixes', 'ECE', 'First wrong step below an earlier one', 'Right answer above wrong'],
        rows: [[results.arithVerifier.labels.traces, v.heldOutPrefixes, v.ece, v.firstWrongBelowEarlier.rate, v.outcomeRanking.rate]],
      });
    }
    const userTask = user ? (results.config as unknown as PavRlSettings).arith!.pav.task : undefined;
    const arithTitle = userTask ? `The ${userTask} task on the user's model: learned Bo4 verifier, alpha grid` : 'Arithmetic: learned Bo4 verifier, alpha grid';
    sections.push({ title: task === 'planted' ? 'Didactic task (planted): exact prover and learned verifier' : arithTitle, blocks });
  }
  sections.push({
    title: 'Sampled traces with per-step effective rewards',
    blocks: [
      {
        kind: 'text',
        text:
          'Rollouts from the last RL iteration of seed 0. Each step is coloured by the advantage its tokens received: for PAV the effective reward (r - mean of the ' +
          'other group members) + alpha A^mu, for outcome-only the first term alone, so every step of a response gets the same value there.',
      },
      { kind: 'traces', valueLabel: 'effective reward (advantage)', traces: pickTraces(outcomes, arms, results) },
    ],
  });
  return renderReportPage({ title: results.title, summary: `${results.headline} ${modelNote ?? ''} ${quickNote ?? ''}`.trim(), indexHref: '../index.html', findings: results.claims, sections, config: results.config });
}

/** Up to two traces (a correct and a wrong one where both exist) per arm from the last logged step of seed 0. */
function pickTraces(outcomes: RunOutcome[], arms: ArmSpec[], results: PavRlResults): Trace[] {
  const traces: Trace[] = [];
  for (const arm of arms) {
    const rows = outcomes.find((o) => o.arm.id === arm.id && o.seed === 0)?.traces ?? [];
    if (rows.length === 0) continue;
    const lastStep = Math.max(...rows.map((r) => r.step as number));
    const last = rows.filter((r) => r.step === lastStep);
    const picked = [last.find((r) => (r.reward as number) >= 1), last.find((r) => (r.reward as number) < 1)].filter((r) => r !== undefined);
    for (const row of picked) {
      const steps = row.steps as Array<{ text: string; advantage: number }>;
      traces.push({
        title: `${results.arms[arm.id].label}, iteration ${lastStep}, reward ${row.reward as number}`,
        ...(arm.task === 'arith' ? { prompt: String(row.prompt).trim() } : {}),
        steps: steps.map((s) => ({ text: s.text, value: r4(s.advantage) })),
        outcome: (row.reward as number) >= 1 ? 'correct' : 'wrong',
      });
    }
  }
  return traces;
}

function fmt(x: unknown): string {
  return typeof x === 'number' ? x.toFixed(3) : '?';
}

/** The registry entry. */
export const pavRl = defineExperiment('pav-rl', 'PAV-RL (Q^pi + alpha A^mu per step) vs outcome-only RL: planted (exact and learned prover) and arith (Bo4 verifier): curves, steps to accuracy, final accuracy', { quick: QUICK_SETTINGS, full: FULL_SETTINGS }, withUserModel, runPavRl);

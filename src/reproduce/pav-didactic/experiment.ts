/**
 * `prl reproduce pav-didactic` (this folder: settings, experiment, analysis, results, report): Fig. 3 of PAV (Setlur et al., "Rewarding Progress", arXiv 2410.08146,
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
import { mean } from '../../algos/index.js';
import { createEngine, type Engine } from '../../engine/kernels/index.js';
import type { MadeModel } from '../../engine/made.js';
import { loadModel } from '../../engine/io.js';
import { writeExperimentReport } from '../../report/results.js';
import { getTask } from '../../tasks/index.js';
import { PAPER_PLANTED } from '../../tasks/planted.js';
import { createCodec, TOKEN_TASK_SYMBOLS } from '../../tasks/codec.js';
import { resolveConfig, rlConfigSchema, type RlConfig } from '../../train/config.js';
import { evaluatePolicy, evaluationSeed } from '../../train/evaluate.js';
import { runRl, type RlMetricsRow } from '../../train/rl.js';
import { RunFolder } from '../../train/run-folder.js';
import { warmStartConfig, warmStartModel } from '../../train/warm-start.js';
import { inputError } from '../../util/errors.js';
import { readJsonFile, writeJsonAtomic } from '../../util/fs.js';
import { formatDuration, type Progress } from '../../util/progress.js';
import { PAPER_MADE_WARM_START, runMadeRl, sampleMade, trainMadeWarmStart, type MadeWarmStartConfig } from '../../pav/made-rl.js';
import { rlProver } from '../../pav/rl.js';
import { defineExperiment } from '../types.js';
import { isSameRun, readRunRows } from '../runs.js';
import type { PassEvaluation } from './analysis.js';
import { buildReport } from './report.js';
import { summarise, type PavDidacticResults } from './results.js';
import { armId, FULL_SETTINGS, QUICK_SETTINGS, type ArmSpec, type PavDidacticSettings, type WarmStartSpec } from './settings.js';

export interface RunOutcome {
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

/**
 * A warm-started policy that can run (a)'s arms: the MADE network (runs in process, results cached as
 * `<runsDir>/<arm>/seed-<s>.json`) or the engine's Llama (each run a `prl rl` folder `<runsDir>/<arm>/seed-<s>/`).
 */
export interface DidacticStart {
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
  const reused = isSameRun(dir, config, arm.passAtIteration === undefined ? [] : [{ path: passPath, field: 'key', value: passKey }]);
  if (!reused) {
    rmSync(dir, { recursive: true, force: true });
    if (arm.passAtIteration !== undefined && arm.passAtIteration < arm.iterations) {
      const firstLeg = armConfig(arm, seed, startModel, settings, arm.passAtIteration, threads);
      await runRl(firstLeg, dir, { quiet: true, prover: rlProver(firstLeg) });
      const checkpoint = new RunFolder(dir).latestCheckpoint();
      if (!checkpoint) throw new Error(`${dir}: the first leg left no checkpoint`);
      writeJsonAtomic(passPath, { key: passKey, ...(await passEvaluation(checkpoint.dir, settings, seed, threads)) });
      await runRl(config, dir, { quiet: true, resume: true, prover: rlProver(config) });
    } else {
      await runRl(config, dir, { quiet: true, prover: rlProver(config) });
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

/** The registry entry. */
export const pavDidactic = defineExperiment('pav-didactic', "PAV's didactic planted task (Fig. 3): effective reward vs outcome-only RL, prover gamma sweep, pass@N", { quick: QUICK_SETTINGS, full: FULL_SETTINGS }, { reason: 'the planted task is didactic: its exact prover and values exist only for its own 15-token vocabulary and a model trained on it, not for a real checkpoint' }, runPavDidactic);

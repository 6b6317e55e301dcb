/**
 * The PAV pieces every arith reproduction needs (Setlur et al., arXiv 2410.08146; SPEC.md "PAV: training
 * data and verifier"): the policy (the cached SFT warm start), Monte Carlo step labels under a prover
 * (the paper's best, Bo4 of the policy), and a verifier trained on them, with its held-out calibration
 * and ranking accuracy. `pav-search` and `pav-rl` share it so both stand on the same verifier.
 *
 * Everything is cached inside `out` and keyed by the settings that decide it: labels are written in
 * chunks of problems, each with its own seed, so an interrupted run resumes at the first missing chunk
 * and gives the same labels as an uninterrupted one; the verifier is retrained only when its labels or
 * its recipe change.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createEngine, type Engine } from '../engine/kernels/index.js';
import { loadModel } from '../engine/io.js';
import { loadTokenizer } from '../engine/tokenizer.js';
import { labelProblems, type LabelRecord, type SeedStrategy } from '../pav/labels.js';
import { engineRoller } from '../pav/rollers.js';
import { calibration, createVerifier, examplesFromLabels, saveVerifier, trainVerifier, verifierPredict, type Verifier, type VerifierExample } from '../pav/verifier.js';
import { getTask } from '../tasks/index.js';
import type { TextProblem, TextTask } from '../tasks/types.js';
import type { SftConfig } from '../train/config.js';
import { cacheDir, warmStartModel } from '../train/warm-start.js';
import { inputError } from '../util/errors.js';
import { readJsonFile, writeFileAtomic, writeJsonAtomic } from '../util/fs.js';
import { formatDuration, type Progress } from '../util/progress.js';
import { Rng } from '../util/rng.js';
import { TASK_OPTIONS, WARM_START_FULL, WARM_START_QUICK } from './prl-vs-grpo/settings.js';
import { r4 } from './numbers.js';
import { modelCodec } from './runs.js';
import type { UserModelIdentity } from './user-model.js';

/** Everything that decides the policy, the labels and the verifier. */
export interface ArithPavSettings {
  /** The task labelled and searched: arith when absent; the user's with `--model` (set only then, so the arith caches keep their keys). */
  task?: string;
  taskOptions: Record<string, unknown>;
  /** The user's checkpoint (`--model`) the policy is: its hashes join the cache keys, so other weights at the same path relabel. */
  userModel?: UserModelIdentity;
  /** A model folder to use as the policy, or the SFT recipe of the cached warm start. */
  start: { model: string } | { recipe: Partial<SftConfig> };
  labels: {
    /** The first `problems` training problems are labelled. */
    problems: number;
    /** Seed responses per prompt (n_cov) and rollouts per prefix (n_mc). */
    nCov: number;
    nMc: number;
    /** `policy` or `bok:K` (SPEC: the paper's best prover is Bo4 of the policy). */
    prover: string;
    strategy: SeedStrategy;
    temperature: number;
    seed: number;
    /** Problems per cached chunk (the unit of resumption). */
    chunk: number;
  };
  verifier: {
    steps: number;
    /** Traces per optimiser step. */
    batchSize: number;
    lr: number;
    warmupSteps: number;
    /** Fraction of the labelled problems held out for calibration and ranking. */
    heldOutFraction: number;
    seed: number;
    /**
     * The verifier's starting trunk: a model folder or the SFT recipe of a cached warm start (same task,
     * same tokenizer). Absent: the policy's trunk (the paper's setup). The labels do not depend on it, so
     * a different trunk reuses the cached labels and retrains only the verifier.
     */
    start?: { model: string } | { recipe: Partial<SftConfig> };
  };
}

/** Quick: the tiny warm start (shared with prl-vs-grpo), 512 problems x 4 seeds x 4 rollouts, 500 verifier steps (about 40 s on a loaded machine). */
export const ARITH_PAV_QUICK: ArithPavSettings = {
  taskOptions: TASK_OPTIONS,
  start: { recipe: WARM_START_QUICK },
  labels: { problems: 512, nCov: 4, nMc: 4, prover: 'bok:4', strategy: 'random', temperature: 1, seed: 0, chunk: 128 },
  verifier: { steps: 500, batchSize: 32, lr: 1e-3, warmupSteps: 20, heldOutFraction: 0.1, seed: 0 },
};

/**
 * The full verifier's trunk: the small preset trained on error-free traces of fresh problems (3000 steps, ~10
 * minutes). The policy is warm-started on a corpus with 30% wrong steps, on purpose (RL needs room), so a
 * verifier grown from its trunk starts from a model that imitates slips; this one has learned the arithmetic it
 * must check, as the paper's verifiers start from models that can do MATH. Held out, it ranks the first wrong
 * step below the earlier right ones in 0.59 of pairs (the policy's trunk: 0.41; measured 2026-12-02).
 */
export const VERIFIER_TRUNK_FULL: Partial<SftConfig> = { preset: 'small', steps: 3000, batchSize: 32, examples: 60000, taskOptions: { errorRate: 0, corpus: 'fresh' } };

/**
 * Full: the small warm start (avg@4 ~ 0.27), every training problem x 8 seeds x 8 rollouts. At this
 * budget the paper's advice (SPEC: low budget favours seeds over rollouts) points to n_cov >= n_mc: the
 * answer line is terminal and exactly labelled, so the outcome verifier learns from seeds alone, while
 * rollouts only sharpen the two intermediate values per trace. The verifier starts from `VERIFIER_TRUNK_FULL`.
 */
export const ARITH_PAV_FULL: ArithPavSettings = {
  taskOptions: TASK_OPTIONS,
  start: { recipe: WARM_START_FULL },
  labels: { problems: 1800, nCov: 8, nMc: 8, prover: 'bok:4', strategy: 'random', temperature: 1, seed: 0, chunk: 150 },
  verifier: { steps: 1500, batchSize: 32, lr: 5e-4, warmupSteps: 50, heldOutFraction: 0.1, seed: 0, start: { recipe: VERIFIER_TRUNK_FULL } },
};

export interface LabelStats {
  traces: number;
  /** (prefix, Q_hat) pairs: one per step of every trace. */
  pairs: number;
  rolloutTokens: number;
  /** Mean outcome reward of the seed responses (the policy's pass@1 on the labelled problems). */
  seedReward: number;
  /** Share of step labels with Q_hat^pi >= 0.5 (the classes the verifier balances). */
  highShare: number;
  seconds: number;
}

export interface VerifierStats {
  trainTraces: number;
  heldOutTraces: number;
  heldOutPrefixes: number;
  finalLoss: number;
  /** Held-out expected calibration error against the soft labels Q_hat^pi (10 equal bins), and the table. */
  ece: number;
  calibration: Array<{ bin: string; count: number; predicted: number; observed: number }>;
  /**
   * Held-out seed traces with a wrong step after at least one right one: how often Q_hat at the first
   * wrong step is below Q_hat at a right step before it (ties count half; chance 0.5).
   */
  firstWrongBelowEarlier: { wins: number; pairs: number; rate: number };
  /**
   * Held-out pairs of seed responses to the same problem, one right and one wrong: how often Q_hat at the
   * last step (the outcome verifier) ranks the right one higher (ties count half; chance 0.5).
   */
  outcomeRanking: { wins: number; pairs: number; rate: number };
  seconds: number;
}

export interface ArithPav {
  /** The policy's model folder. */
  policy: string;
  /** Labels JSONL (`prl label` format). */
  labels: string;
  /** Verifier folder (`prl verifier train` format). */
  verifier: string;
  stats: { labels: LabelStats; verifier: VerifierStats };
}

/** Hex key of the inputs that decide a stage; a change of key recomputes that stage. */
function keyOf(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}

/**
 * The policy, labels and verifier of `settings` (`labels.jsonl`, `verifier/`), reusing what a previous
 * call with the same settings left; returns their paths and the held-out statistics. They live in `out`
 * when given, else in the shared cache `cacheDir()/arith-pav/<key>`, so that pav-search and pav-rl with
 * the same settings label and train once and stand on the same verifier.
 */
export async function prepareArithPav(settings: ArithPavSettings, options: { out?: string; progress: Progress; threads?: number }): Promise<ArithPav> {
  const { progress, threads } = options;
  const modelOf = async (start: { model: string } | { recipe: Partial<SftConfig> }): Promise<string> =>
    'model' in start ? start.model : await warmStartModel('arith', settings.taskOptions, { recipe: { ...start.recipe, threads }, log: (line) => progress.log(line) });
  const policy = await modelOf(settings.start);
  const trunk = settings.verifier.start === undefined ? policy : await modelOf(settings.verifier.start);
  const user = settings.userModel === undefined ? {} : { task: settings.task, userModel: settings.userModel };
  const labelKey = keyOf({ policy, taskOptions: settings.taskOptions, labels: settings.labels, ...user });
  // settings.verifier holds `start` only when set, so the default's key (and its cache) is unchanged.
  const verifierKey = keyOf({ labelKey, verifier: settings.verifier });
  const out = options.out ?? join(cacheDir(), 'arith-pav', verifierKey);
  mkdirSync(out, { recursive: true });
  if (options.out === undefined) reuseCachedLabels(out, labelKey);
  const labels = await labelStage(settings, policy, labelKey, out, progress, threads);
  const verifier = await verifierStage(settings, policy, trunk, verifierKey, out, progress, threads);
  return { policy, labels: join(out, 'labels.jsonl'), verifier: join(out, 'verifier'), stats: { labels, verifier } };
}

/**
 * Copies finished labels with the same key from another verifier recipe's folder of the shared cache, so
 * that a new verifier recipe (steps, trunk) does not relabel: labels depend only on the policy and `labels`.
 */
function reuseCachedLabels(out: string, key: string): void {
  if (existsSync(join(out, 'labels.json'))) return;
  const root = join(cacheDir(), 'arith-pav');
  for (const name of readdirSync(root)) {
    const dir = join(root, name);
    const meta = join(dir, 'labels.json');
    if (dir === out || !existsSync(meta) || !existsSync(join(dir, 'labels.jsonl'))) continue;
    if ((readJsonFile(meta) as { key: string }).key !== key) continue;
    // Data first, then the meta that marks it complete: an interrupted copy is redone, never half-used.
    copyFileSync(join(dir, 'labels.jsonl'), join(out, 'labels.jsonl'));
    copyFileSync(meta, join(out, 'labels.json'));
    return;
  }
}

/** Labels every chunk not yet on disk, then joins them into `labels.jsonl` with `labels.json` (key, stats). */
async function labelStage(settings: ArithPavSettings, policy: string, key: string, out: string, progress: Progress, threads?: number): Promise<LabelStats> {
  const metaPath = join(out, 'labels.json');
  if (existsSync(metaPath) && existsSync(join(out, 'labels.jsonl'))) {
    const meta = readJsonFile(metaPath) as { key: string; stats: LabelStats };
    if (meta.key === key) return meta.stats;
  }
  const s = settings.labels;
  const chunkDir = join(out, 'label-chunks', key);
  mkdirSync(chunkDir, { recursive: true });
  const engine = await createEngine({ threads });
  const started = performance.now();
  let rolloutTokens = 0;
  let seconds = 0;
  try {
    const { model, tokenizer } = loadModel(policy, engine, { trainable: false });
    const codec = modelCodec(settings.task ?? 'arith', settings.taskOptions, model, tokenizer);
    const problems = codec.problems('train').slice(0, s.problems);
    const chunks = Math.ceil(problems.length / s.chunk);
    for (let c = 0; c < chunks; c++) {
      const path = join(chunkDir, `chunk-${String(c).padStart(4, '0')}.json`);
      if (existsSync(path)) {
        const done = readJsonFile(path) as { rolloutTokens: number; seconds: number };
        rolloutTokens += done.rolloutTokens;
        seconds += done.seconds;
        continue;
      }
      const chunkStarted = performance.now();
      const roller = engineRoller(model, codec, { temperature: s.temperature, name: s.prover });
      // One seed per chunk: a resumed run labels each chunk exactly as an uninterrupted one would.
      const records = labelProblems(model, roller, codec, problems.slice(c * s.chunk, (c + 1) * s.chunk), {
        nCov: s.nCov,
        nMc: s.nMc,
        strategy: s.strategy,
        prover: s.prover,
        temperature: s.temperature,
        maxNewTokens: codec.maxNewTokens,
        rng: new Rng(s.seed * 100_003 + c),
      });
      const chunkSeconds = (performance.now() - chunkStarted) / 1000;
      rolloutTokens += roller.generatedTokens;
      seconds += chunkSeconds;
      writeJsonAtomic(path, { records, rolloutTokens: roller.generatedTokens, seconds: chunkSeconds });
      const elapsed = (performance.now() - started) / 1000;
      progress.log(`labels: chunk ${c + 1}/${chunks} (${records.length} traces, ${roller.generatedTokens} rollout tokens, ${Math.round(chunkSeconds)} s; about ${formatDuration((elapsed / (c + 1)) * (chunks - c - 1))} left)`);
    }
    const records = Array.from({ length: chunks }, (_, c) => (readJsonFile(join(chunkDir, `chunk-${String(c).padStart(4, '0')}.json`)) as { records: LabelRecord[] }).records).flat();
    writeFileAtomic(join(out, 'labels.jsonl'), records.map((r) => JSON.stringify(r) + '\n').join(''));
    const seeds = records.filter((r) => r.source === 'seed');
    const qs = records.flatMap((r) => r.q_mc);
    const stats: LabelStats = {
      traces: records.length,
      pairs: qs.length,
      rolloutTokens,
      seedReward: r4(seeds.reduce((a, r) => a + r.reward, 0) / Math.max(1, seeds.length)),
      highShare: r4(qs.filter((q) => q >= 0.5).length / Math.max(1, qs.length)),
      seconds: Math.round(seconds),
    };
    writeJsonAtomic(metaPath, { key, settings: settings.labels, policy, stats });
    rmSync(join(out, 'label-chunks'), { recursive: true, force: true });
    return stats;
  } finally {
    await engine.kernels.dispose();
  }
}

/** Trains the verifier from `trunk` (by default the policy) on the labels (held-out problems aside) and measures it on them. */
async function verifierStage(settings: ArithPavSettings, policy: string, trunk: string, key: string, out: string, progress: Progress, threads?: number): Promise<VerifierStats> {
  const dir = join(out, 'verifier');
  const metaPath = join(dir, 'prepare.json');
  if (existsSync(metaPath)) {
    const meta = readJsonFile(metaPath) as { key: string; stats: VerifierStats };
    if (meta.key === key) return meta.stats;
  }
  const s = settings.verifier;
  const engine = await createEngine({ threads });
  try {
    const started = performance.now();
    const records = readFileSync(join(out, 'labels.jsonl'), 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as LabelRecord);
    const { model, tokenizer } = loadModel(trunk, engine);
    if (trunk !== policy && JSON.stringify(tokenizer.toJSON()) !== JSON.stringify(loadTokenizer(policy).toJSON())) {
      throw inputError(`${trunk}: tokenizer.json`, `the verifier's trunk must share the policy's tokenizer (${policy}), since it scores the policy's tokens`);
    }
    const rng = new Rng(s.seed);
    const { train, heldOut } = splitByProblem(records, s.heldOutFraction, rng);
    const trainExamples = examplesFromLabels(train, tokenizer);
    const v = createVerifier(model, engine, rng, { prover: settings.labels.prover, task: settings.task ?? 'arith', taskOptions: settings.taskOptions });
    const finalLoss = trainVerifierWithProgress(v, engine, trainExamples, s, rng, progress, 'verifier');
    progress.done();
    rmSync(dir, { recursive: true, force: true });
    saveVerifier(dir, v, tokenizer);
    const task = getTask(settings.task ?? 'arith', settings.taskOptions) as TextTask;
    const stats = heldOutStats(heldOut, examplesFromLabels(heldOut, tokenizer), (ex) => verifierPredict(v, ex.map((e) => e.tokens), ex.map((e) => e.positions)), task);
    const result: VerifierStats = { trainTraces: trainExamples.length, finalLoss: r4(finalLoss), ...stats, seconds: Math.round((performance.now() - started) / 1000) };
    writeJsonAtomic(metaPath, { key, settings: s, stats: result });
    progress.log(
      `verifier: ${s.steps} steps on ${trainExamples.length} traces; held out: ECE ${result.ece}, first wrong step below earlier ${result.firstWrongBelowEarlier.rate} ` +
        `(${result.firstWrongBelowEarlier.pairs} pairs), right answer above wrong ${result.outcomeRanking.rate} (${result.outcomeRanking.pairs} pairs), ${result.seconds} s`,
    );
    return result;
  } finally {
    await engine.kernels.dispose();
  }
}

/** Holds out a fraction of the problems (all their traces), so held-out numbers measure unseen prompts. */
export function splitByProblem<T extends { problem: string }>(records: readonly T[], fraction: number, rng: Rng): { train: T[]; heldOut: T[] } {
  const problems = [...new Set(records.map((r) => r.problem))];
  rng.shuffle(problems);
  const held = new Set(problems.slice(0, Math.floor(problems.length * fraction)));
  return { train: records.filter((r) => !held.has(r.problem)), heldOut: records.filter((r) => held.has(r.problem)) };
}

/**
 * Calibration and ranking of a verifier on held-out label records; `predict` gives Q_hat at each
 * example's readouts ([V at the prompt, Q after each step]).
 */
export function heldOutStats(
  records: readonly LabelRecord[],
  examples: readonly VerifierExample[],
  predict: (examples: readonly VerifierExample[]) => number[][],
  task: TextTask,
): Omit<VerifierStats, 'trainTraces' | 'finalLoss' | 'seconds'> {
  const kept = records.filter((r) => r.steps.length > 0); // examplesFromLabels drops step-less traces
  const predictions = examples.length > 0 ? predict(examples) : [];
  const { ece, table } = calibration(predictions.flat(), examples.flatMap((e) => e.targets));
  const problems = new Map(task.evalProblems().concat(task.trainProblems()).map((p) => [p.id, p]));
  let firstWins = 0;
  let firstPairs = 0;
  const finals = new Map<string, Array<{ q: number; reward: number }>>();
  kept.forEach((r, i) => {
    if (r.source !== 'seed') return;
    const q = predictions[i].slice(1); // readout 0 is the prompt
    finals.set(r.problem, [...(finals.get(r.problem) ?? []), { q: q[q.length - 1], reward: r.reward }]);
    if (task.checkSteps === undefined) return; // a task without step checks (math) has no first wrong step to rank
    const problem = problems.get(r.problem) as TextProblem;
    const { firstWrong } = task.checkSteps(problem, r.steps.join(''));
    if (firstWrong === null || firstWrong < 1 || firstWrong >= q.length) return;
    for (let j = 0; j < firstWrong; j++) {
      firstPairs++;
      firstWins += q[firstWrong] < q[j] ? 1 : q[firstWrong] === q[j] ? 0.5 : 0;
    }
  });
  let outcomeWins = 0;
  let outcomePairs = 0;
  for (const group of finals.values()) {
    for (const right of group.filter((g) => g.reward >= 1)) {
      for (const wrong of group.filter((g) => g.reward < 1)) {
        outcomePairs++;
        outcomeWins += right.q > wrong.q ? 1 : right.q === wrong.q ? 0.5 : 0;
      }
    }
  }
  return {
    heldOutTraces: examples.length,
    heldOutPrefixes: examples.reduce((a, e) => a + e.positions.length, 0),
    ece: r4(ece),
    calibration: table.map((t) => ({ bin: t.bin, count: t.count, predicted: r4(t.predicted), observed: r4(t.observed) })),
    firstWrongBelowEarlier: { wins: firstWins, pairs: firstPairs, rate: r4(firstWins / Math.max(1, firstPairs)) },
    outcomeRanking: { wins: outcomeWins, pairs: outcomePairs, rate: r4(outcomeWins / Math.max(1, outcomePairs)) },
  };
}

/**
 * Trains `v` by a reproduction's verifier recipe (global-norm clip 1), reporting the loss every 100 steps
 * as `label: step i/n, loss x`; returns the last step's loss.
 */
export function trainVerifierWithProgress(
  v: Verifier,
  engine: Engine,
  examples: readonly VerifierExample[],
  recipe: { steps: number; batchSize: number; lr: number; warmupSteps: number },
  rng: Rng,
  progress: Progress,
  label: string,
): number {
  return trainVerifier(v, engine, examples, {
    steps: recipe.steps,
    batchSize: recipe.batchSize,
    lr: recipe.lr,
    warmupSteps: recipe.warmupSteps,
    maxGradNorm: 1,
    rng,
    onStep: (step, loss) => {
      if (step % 100 === 0 || step === recipe.steps) progress.update(`${label}: step ${step}/${recipe.steps}, loss ${loss.toFixed(4)}`);
    },
  });
}

/**
 * `prl rl`: GRPO-style RL with outcome or process rewards, one readable loop (cleanRL style).
 *
 * Each step: sample G responses for each of P prompts from the policy; score them with the task's
 * outcome verifier; compute the rollout and reference log-probs by teacher forcing; turn rewards into
 * per-token advantages with the chosen estimator (GRPO, RLOO, REINFORCE, PRL, PRL-raw, FRPO; RAFT
 * instead fine-tunes on the correct samples); one PPO-clip update against the rollout log-probs
 * (SPEC.md "Policy loss"). Evaluate on the held-out split every `evalEvery` steps, checkpoint every
 * `checkpointEvery` steps; `--resume` continues from the last checkpoint with identical numbers.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { isRolloutEstimator, tisWeights, type TisResult, mean, parseStepSplit, pavAdvantages, policyLoss, rolloutAdvantages, stepEnds, withTerminalOutcomes, type AdvantageOptions, type ProverValues, type Rollout, type StepSplit } from '../algos/index.js';
import { loadModelFolder } from '../engine/checkpoint.js';
import { createEngine, type Engine } from '../engine/kernels/index.js';
import { endOfSequenceIds, loadModel } from '../engine/io.js';
import { copyAdapterWeights } from '../engine/lora.js';
import { Arena } from '../engine/memory.js';
import { loadPeftAdapter, savePeftAdapter } from '../engine/peft.js';
import type { LlamaModel } from '../engine/model.js';
import { AdamW, clipGradNorm } from '../engine/optim.js';
import { getTask } from '../tasks/index.js';
import { PrlError } from '../util/errors.js';
import { createProgress, formatDuration, type Progress } from '../util/progress.js';
import { Rng } from '../util/rng.js';
import { packBatch, packResponses, responseLogprobs, selectRows, unpackResponses, type PackedBatch } from './batch.js';
import { chatRenderer } from '../tasks/chat.js';
import { createCodec, traceTokenTexts, type CodedProblem, type ReadResponse, type TaskCodec } from '../tasks/codec.js';
import type { RlConfig } from './config.js';
import { DataOrder, type DataOrderState } from './data-order.js';
import { evaluatePolicy, evaluationSeed } from './evaluate.js';
import { baseModelHash, trainedParameters, withoutAdapter, type TrainedParameters } from './lora-training.js';
import { loadCheckpointState, RunFolder } from './run-folder.js';
import { learningRateSchedule } from './sft.js';
import { maskedMean, maskedStats } from './masked-stats.js';
import { checkSyncDir, RolloutPipeline, type StepRollouts } from './rollout-pipeline.js';
import { openRollouts, parseRolloutSpec, type RolloutEngine } from './rollouts/index.js';
import { warmStartModel } from './warm-start.js';

/** One metrics.jsonl row. `time` holds the wall-clock figures, the only fields that differ between identical runs. */
export interface RlMetricsRow {
  step: number;
  reward?: number;
  reward_std?: number;
  response_tokens?: number;
  adv_mean?: number;
  adv_std?: number;
  adv_abs_max?: number;
  kl_ref?: number;
  entropy?: number;
  loss?: number;
  clip_frac?: number;
  approx_kl?: number;
  grad_norm?: number;
  lr?: number;
  /** Mean |logp_trainer - logp_engine| over response tokens the engine gave a log-prob for (0 for the in-process engine). */
  rollout_logprob_diff?: number;
  /** Share of those tokens whose TIS weight hit --tis-cap. */
  tis_capped_frac?: number;
  /** The oldest sample's step - 1 - policy_version (<= --async-steps). */
  staleness?: number;
  eval?: Record<string, unknown>;
  /** sample_s: time the step waited for its rollouts; sync_s: publishing the new weights to the engine. */
  time?: { step_s: number; sample_s: number; score_s: number; update_s: number; sync_s: number; tokens_per_s: number };
}

export interface RlSummary {
  steps: number;
  outDir: string;
  startModel: string;
  /** The trained LoRA adapter (a PEFT folder, `OUT/adapter`), when the run trained one. */
  adapter?: string;
  initialEval?: Record<string, unknown>;
  finalEval?: Record<string, unknown>;
  seconds: number;
}

interface TrainerState {
  rng: number[];
  dataOrder: DataOrderState;
  /** LoRA: the frozen base the adapter belongs to, by path and content. */
  base?: { path: string; sha256: string };
}

/** Everything a step needs, built once per run. */
interface RlContext {
  config: RlConfig;
  engine: Engine;
  codec: TaskCodec;
  policy: LlamaModel;
  /** What the optimiser moves: the policy's weights, or its LoRA adapter. */
  trained: TrainedParameters;
  /** A separate frozen reference, or null: the policy's own base with its adapter switched off (LoRA). */
  reference: LlamaModel | null;
  optimizer: AdamW;
  train: CodedProblem[];
  heldOut: CodedProblem[];
  advantageOptions: AdvantageOptions;
  maxNewTokens: number;
  schedule: (step: number) => number;
  /** The prover of the `pav` estimator. */
  prover: Prover | null;
}

/**
 * Q^mu of a prover at each step end (the `pav` estimator's process reward, SPEC.md "PAV"). The caller
 * supplies it (src/pav/rl.ts `rlProver`), so the RL loop needs nothing from PAV.
 */
export interface Prover {
  readonly name: string;
  values(problems: readonly CodedProblem[], responses: readonly number[][], ends: readonly number[][]): ProverValues[];
}

/** Opens a prover once the run's engine and codec exist. */
export type ProverFactory = (engine: Engine, codec: TaskCodec) => Prover;

export interface RlOptions {
  /** Continue the run in `outDir` from its last checkpoint. */
  resume?: boolean;
  /** No progress output. */
  quiet?: boolean;
  /** Required by the `pav` estimator. */
  prover?: ProverFactory;
  /** The rollout servers' API key (`--api-key`); default the variable `config.apiKeyEnv`. Never written anywhere. */
  apiKey?: string;
}

export async function runRl(config: RlConfig, outDir: string, options: RlOptions = {}): Promise<RlSummary> {
  const progress = createProgress(process.stderr, 1, options.quiet === true);
  const started = performance.now();
  const engine = await createEngine({ threads: config.threads, provider: config.provider });
  let rollouts: RolloutEngine | null = null;
  try {
    const run = new RunFolder(outDir);
    const checkpoint = options.resume ? run.latestCheckpoint() : null;
    if (!options.resume && (run.latestCheckpoint() || existsSync(join(outDir, 'metrics.jsonl')))) {
      throw new PrlError(`${outDir} already holds a run; continue it with --resume ${outDir}, or choose another --out`);
    }
    const task = getTask(config.task, config.taskOptions);
    const startModel = config.model ?? (await warmStartModel(config.task, config.taskOptions, { log: (line) => progress.log(line), quiet: options.quiet }));
    const { policy, trained, base, reference, codec } = await openRunModels(config, startModel, engine, task);
    const ctx: RlContext = {
      config,
      engine,
      codec,
      policy,
      trained,
      reference,
      optimizer: new AdamW(trained, engine.arena, engine.kernels, { lr: config.lr, weightDecay: config.weightDecay }),
      train: codec.problems('train'),
      heldOut: codec.problems('eval').slice(0, config.evalProblems),
      advantageOptions: {
        // raft and pav compute their own advantages; the rest go through the same table as `prl advantages`.
        estimator: isRolloutEstimator(config.estimator) ? config.estimator : 'grpo',
        eta: config.eta,
        beta: config.beta,
        kl: config.kl,
        stepSplit: config.stepSplit === 'task' ? codec.stepSplit : parseStepSplit(config.stepSplit),
        std: config.std,
      },
      maxNewTokens: config.maxNewTokens ?? codec.maxNewTokens,
      schedule: learningRateSchedule(config.lrSchedule, config.warmupSteps, config.steps),
      prover: config.estimator === 'pav' ? openRunProver(options.prover, engine, codec) : null,
    };

    let rng = new Rng(config.seed);
    let order = new DataOrder(ctx.train.length, config.seed);
    let startStep = 0;
    if (checkpoint) {
      const state = loadCheckpointState(checkpoint.dir, ctx.optimizer) as unknown as TrainerState;
      if (trained.adapter) {
        if (state.base?.sha256 !== base!.sha256) throw new PrlError(`${checkpoint.dir}: the adapter was trained on another base than ${startModel} (its weights changed since the run started)`);
        copyAdapterWeights(loadPeftAdapter(join(checkpoint.dir, 'adapter'), policy.config, new Arena(0)), trained.adapter);
      } else {
        const folder = loadModelFolder(checkpoint.dir);
        folder.fillTensors(policy.parameters());
        folder.close();
      }
      rng = Rng.fromState(state.rng);
      order = new DataOrder(ctx.train.length, config.seed, state.dataOrder);
      startStep = checkpoint.step;
      run.truncateRows('metrics.jsonl', startStep);
      run.truncateRows('samples.jsonl', startStep);
      progress.log(`resuming ${outDir} from step ${startStep}`);
    } else {
      run.truncateRows('metrics.jsonl', -1);
      run.truncateRows('samples.jsonl', -1);
    }
    run.writeJson('config.json', { ...config, model: startModel });

    let initialEval: Record<string, unknown> | undefined;
    if (startStep === 0 && config.evalEvery > 0) {
      initialEval = evaluate(ctx, 0);
      run.appendRow('metrics.jsonl', { step: 0, eval: initialEval });
      progress.log(`step 0  eval ${formatEval(initialEval)}`);
    }
    let finalEval = initialEval;
    const spec = parseRolloutSpec(config.rollout);
    const syncDir = resolve(config.syncDir ?? join(outDir, 'sync'));
    if (spec.kind !== 'engine') checkSyncDir(syncDir);
    rollouts = await openRollouts(spec, { runName: basename(resolve(outDir)), syncDir, modelDir: startModel, threads: config.threads ?? availableParallelism(), log: (line) => progress.log(line) }, {
      rng: () => rng,
      asyncSteps: config.asyncSteps,
      serverKind: config.serverKind,
      requestTimeout: config.requestTimeout,
      serverWait: config.serverWait,
      apiKey: options.apiKey ?? process.env[config.apiKeyEnv],
    });
    const pipeline = new RolloutPipeline(rollouts, order, { train: ctx.train, promptsPerStep: config.promptsPerStep, groupSize: config.groupSize, maxNewTokens: ctx.maxNewTokens, temperature: config.temperature, topP: config.topP, stopIds: codec.stopIds, seed: config.seed, asyncSteps: config.asyncSteps, lastStep: config.steps }, startStep + 1);
    const publish = async (version: number): Promise<number> => {
      const t = performance.now();
      await rollouts!.publish({ version, model: policy, ...(trained.adapter ? { adapter: trained.adapter } : {}) });
      return (performance.now() - t) / 1000;
    };
    await publish(startStep);
    for (let step = startStep + 1; step <= config.steps; step++) {
      const t0 = performance.now();
      pipeline.launchUpTo(step - 1);
      const stepRollouts = await takeRollouts(pipeline, step, run, outDir);
      // Generation ahead must reach the servers before the update holds the thread.
      if (config.asyncSteps > 0) await new Promise((done) => setTimeout(done, 5));
      const { row, traces } = rlStep(ctx, stepRollouts, t0);
      row.time!.sync_s = await publish(step);
      const evalDue = config.evalEvery > 0 && (step % config.evalEvery === 0 || step === config.steps);
      if (evalDue) row.eval = finalEval = evaluate(ctx, step);
      run.appendRow('metrics.jsonl', row);
      for (const trace of traces) run.appendRow('samples.jsonl', trace);
      if (step % config.checkpointEvery === 0 || step === config.steps) {
        const trainer: TrainerState = { rng: rng.state(), dataOrder: stepRollouts.dataOrder, ...(base ? { base } : {}) };
        const weights = trained.adapter ? { adapter: trained.adapter, baseModel: startModel } : { model: policy, tokenizer: codec.tokenizer };
        run.saveCheckpoint(step, { ...weights, optimizer: ctx.optimizer, trainer: { ...trainer } }, config.keepCheckpoints);
      }
      report(progress, row, step, config.steps, started);
    }
    progress.done();
    if (trained.adapter) savePeftAdapter(join(outDir, 'adapter'), trained.adapter, { baseModel: startModel });
    const summary: RlSummary = {
      steps: config.steps,
      outDir,
      startModel,
      ...(trained.adapter ? { adapter: join(outDir, 'adapter') } : {}),
      initialEval,
      finalEval,
      seconds: (performance.now() - started) / 1000,
    };
    run.writeJson('summary.json', summary);
    return summary;
  } finally {
    await rollouts?.close().catch(() => undefined);
    await engine.kernels.dispose();
  }
}

/** A step's rollouts; a failure stops the run naming the checkpoint `--resume` continues from. */
async function takeRollouts(pipeline: RolloutPipeline, step: number, run: RunFolder, outDir: string): Promise<StepRollouts> {
  try {
    return await pipeline.take(step);
  } catch (err) {
    const checkpoint = run.latestCheckpoint();
    const from = checkpoint ? `its last checkpoint (${checkpoint.dir}, step ${checkpoint.step})` : 'step 0 (no checkpoint yet)';
    throw new PrlError(`step ${step}: rollouts failed: ${(err as Error).message}. The run stopped at ${from}; continue it with prl rl --resume ${outDir}`, { cause: err });
  }
}

/** One RL step on its rollouts (started at `t0`): rewards, log-probs, advantages, update. Mutates the policy and optimizer. */
function rlStep(ctx: RlContext, rollouts: StepRollouts, t0: number): { row: RlMetricsRow; traces: unknown[] } {
  const { config, codec, policy } = ctx;
  const { step, problems, samples } = rollouts;
  const G = config.groupSize;
  const prompts = problems.flatMap((p) => Array.from({ length: G }, () => p.promptTokens));
  const responses = samples.map((s) => s.tokens);
  const reads = samples.map((s, i) => codec.read(problems[Math.floor(i / G)], s.tokens));
  const t1 = performance.now();

  const batch = packBatch(prompts, responses);
  const masks = reads.map((r) => r.mask);
  const logpRef = ctx.reference ? responseLogprobs(ctx.reference, batch) : withoutAdapter(policy, () => responseLogprobs(policy, batch));
  // With one mini-batch the first update forward IS the rollout policy's forward: reuse it.
  let logpOld = config.miniBatches === 1 ? null : responseLogprobs(policy, batch);
  const t2 = performance.now();

  let advantages: Float64Array[] | null = null;
  let tis: TisResult | null = null;
  const lossTotals = { loss: 0, clipFrac: 0, approxKl: 0, gradNorm: 0, updates: 0 };
  let entropy = NaN;
  const lr = config.lr * ctx.schedule(step - 1);
  const rows = Array.from({ length: batch.B }, (_, i) => i);
  const perMiniBatch = Math.ceil(batch.B / config.miniBatches);
  for (let epoch = 0; epoch < config.ppoEpochs; epoch++) {
    for (let m = 0; m < config.miniBatches; m++) {
      const picked = rows.slice(m * perMiniBatch, (m + 1) * perMiniBatch);
      if (picked.length === 0) continue;
      const mb = config.miniBatches === 1 ? batch : selectRows(batch, picked);
      ctx.trained.zeroGrad();
      const logp = unpackResponses(policy.forward(mb.tokens, mb.targets, mb.B, mb.T), mb);
      if (Number.isNaN(entropy)) entropy = maskedMean(unpackResponses(policy.entropy(), mb), picked.map((i) => masks[i]));
      if (!logpOld) logpOld = logp.map((x) => x.slice());
      advantages ??= computeAdvantages(ctx, reads, responses, logpOld, logpRef, problems);
      // Engine vs trainer: the engine's log-probs are the behaviour policy's (NaN: none, weight 1).
      tis ??= tisWeights(logpOld, samples.map((s) => s.logprobs), masks, config.tisCap);
      const dlogp = updateGradient(ctx, mb, picked, logp, logpOld, logpRef, masks, advantages, tis.weights, reads, lossTotals);
      if (!dlogp) continue;
      policy.backward(dlogp);
      const gradNorm = clipGradNorm(ctx.engine.kernels, ctx.trained.shards.map((s) => s.grads), config.maxGradNorm);
      if (!Number.isFinite(gradNorm)) throw new PrlError(`step ${step}: the gradient norm is ${gradNorm}; stopped before the update (the last checkpoint is intact)`);
      ctx.optimizer.update(lr);
      lossTotals.gradNorm += gradNorm;
      lossTotals.updates++;
    }
  }
  const t3 = performance.now();

  const rewards = reads.map((r) => r.reward);
  const advStats = maskedStats(advantages!, masks);
  const generated = responses.reduce((s, r) => s + r.length, 0);
  const updates = Math.max(1, lossTotals.updates);
  const row: RlMetricsRow = {
    step,
    reward: mean(rewards),
    reward_std: Math.sqrt(mean(rewards.map((r) => (r - mean(rewards)) ** 2))),
    response_tokens: generated / responses.length,
    adv_mean: advStats.mean,
    adv_std: advStats.std,
    adv_abs_max: advStats.absMax,
    kl_ref: maskedMean(logpOld!.map((lp, i) => lp.map((x, t) => x - logpRef[i][t])), masks),
    entropy,
    loss: lossTotals.loss / updates,
    clip_frac: lossTotals.clipFrac / updates,
    approx_kl: lossTotals.approxKl / updates,
    grad_norm: lossTotals.gradNorm / updates,
    lr,
    rollout_logprob_diff: tis?.meanAbsDiff ?? 0,
    tis_capped_frac: tis?.cappedFrac ?? 0,
    staleness: Math.max(...samples.map((s) => step - 1 - s.policyVersion)),
    time: { step_s: (t3 - t0) / 1000, sample_s: (t1 - t0) / 1000, score_s: (t2 - t1) / 1000, update_s: (t3 - t2) / 1000, sync_s: 0, tokens_per_s: generated / ((t3 - t0) / 1000) },
  };
  const traces = reads.slice(0, config.samplesPerStep).map((read, i) => ({ ...traceRow(ctx, step, problems[Math.floor(i / G)], read, responses[i], advantages![i]), policy_version: samples[i].policyVersion }));
  return { row, traces };
}

function computeAdvantages(ctx: RlContext, reads: ReadResponse[], responses: number[][], logpOld: Float64Array[], logpRef: Float64Array[], problems: CodedProblem[]): Float64Array[] {
  if (ctx.prover) return pavStepAdvantages(ctx, ctx.prover, reads, responses, problems);
  if (ctx.config.estimator === 'raft') {
    // RAFT: weight 1 on every token of a correct sample, 0 elsewhere (the update is SFT on those tokens).
    return reads.map((r) => Float64Array.from(r.mask, (m) => (m && r.reward >= 1 ? 1 : 0)));
  }
  const G = ctx.config.groupSize;
  const rollouts: Rollout[] = reads.map((r, i) => ({
    line: i + 1,
    group: Math.floor(i / G),
    reward: r.reward,
    mask: r.mask,
    logprobsOld: Array.from(logpOld[i]),
    logprobsRef: Array.from(logpRef[i]),
    text: r.text,
    tokenOffsets: r.offsets,
    tokenIds: responses[i],
  }));
  return rolloutAdvantages(rollouts, ctx.advantageOptions);
}

function openRunProver(factory: ProverFactory | undefined, engine: Engine, codec: TaskCodec): Prover {
  if (factory === undefined) throw new PrlError('estimator pav: needs a prover (--prover oracle:gamma=G on planted, or a verifier folder)');
  return factory(engine, codec);
}

/** PAV: per-step effective rewards Q^pi + alpha A^mu from the prover. */
function pavStepAdvantages(ctx: RlContext, pav: Prover, reads: ReadResponse[], responses: number[][], problems: CodedProblem[]): Float64Array[] {
  const G = ctx.config.groupSize;
  const ends = reads.map((r, i) => stepEnds(ctx.codec.stepSplit, { mask: r.mask, text: r.text, tokenOffsets: r.offsets, tokenIds: responses[i] }));
  const rewards = reads.map((r) => r.reward);
  const values = withTerminalOutcomes(pav.values(reads.map((_, i) => problems[Math.floor(i / G)]), responses, ends), responses, ends, rewards, ctx.codec.stopIds, ctx.maxNewTokens);
  return pavAdvantages(rewards, reads.map((_, i) => Math.floor(i / G)), reads.map((r) => r.mask), ends, values, ctx.config.alpha);
}

/** The loss gradient d loss / d logp of one mini-batch, packed for `backward`; null when nothing to learn. */
function updateGradient(
  ctx: RlContext,
  mb: PackedBatch,
  picked: number[],
  logp: Float64Array[],
  logpOld: Float64Array[],
  logpRef: Float64Array[],
  masks: number[][],
  advantages: Float64Array[],
  tis: Float64Array[],
  reads: ReadResponse[],
  totals: { loss: number; clipFrac: number; approxKl: number },
): Float32Array | null {
  const { config } = ctx;
  if (config.estimator === 'raft') {
    const weights = picked.map((i) => advantages[i]);
    const count = weights.reduce((s, w) => s + w.reduce((a, b) => a + b, 0), 0);
    if (count === 0) return null;
    totals.loss += -weights.reduce((s, w, j) => s + w.reduce((a, wt, t) => a + wt * logp[j][t], 0), 0) / count;
    return packResponses(weights.map((w) => w.map((wt) => -wt / count)), mb);
  }
  const result = policyLoss(
    {
      logp,
      logpOld: picked.map((i) => logpOld[i]),
      advantages: picked.map((i) => advantages[i]),
      mask: picked.map((i) => masks[i]),
      logpRef: picked.map((i) => logpRef[i]),
      tisWeights: picked.map((i) => tis[i]),
    },
    { clipRatio: config.clipRatio, dualClip: config.dualClip, aggregation: config.lossAggregation, klCoef: config.klCoef, kl: config.klLoss },
  );
  if (!Number.isFinite(result.loss)) {
    const worst = picked.map((i) => reads[i].text.slice(0, 40));
    throw new PrlError(`the policy loss is ${result.loss}; stopped before the update (the last checkpoint is intact). Responses in the batch begin: ${JSON.stringify(worst.slice(0, 3))}`);
  }
  totals.loss += result.loss;
  totals.clipFrac += result.metrics.clipFrac;
  totals.approxKl += result.metrics.approxKl;
  return packResponses(result.dlogp, mb);
}

function evaluate(ctx: RlContext, step: number): Record<string, unknown> {
  const { metrics } = evaluatePolicy(ctx.policy, ctx.codec, ctx.heldOut, {
    samples: ctx.config.evalSamples,
    temperature: ctx.config.evalTemperature,
    maxNewTokens: ctx.maxNewTokens,
    seed: evaluationSeed(ctx.config.seed, step),
  });
  return metrics as unknown as Record<string, unknown>;
}

/** A samples.jsonl row: the trace, its reward, and what the estimator gave each token and step. */
function traceRow(ctx: RlContext, step: number, problem: CodedProblem, read: ReadResponse, response: number[], advantages: Float64Array): Record<string, unknown> {
  const split: StepSplit = ctx.advantageOptions.stepSplit;
  const ends = stepEnds(split, { mask: read.mask, text: read.text, tokenOffsets: read.offsets, tokenIds: response });
  const steps: Array<{ text: string; advantage: number }> = [];
  let begin = 0;
  for (const end of ends) {
    const from = read.offsets[begin] ?? read.text.length;
    const to = end + 1 < read.offsets.length ? read.offsets[end + 1] : read.text.length;
    steps.push({ text: read.text.slice(from, to), advantage: advantages[end] });
    begin = end + 1;
  }
  return {
    step,
    problem: problem.id,
    prompt: ctx.codec.tokenizer.decode(problem.promptTokens.filter((id) => id !== ctx.codec.tokenizer.bosId)),
    response: read.text,
    reward: read.reward,
    tokens: traceTokenTexts(ctx.codec.tokenizer, response),
    advantages: Array.from(advantages, (a) => Number(a.toFixed(6))),
    steps,
  };
}

function report(progress: Progress, row: RlMetricsRow, step: number, steps: number, started: number): void {
  const elapsed = (performance.now() - started) / 1000;
  const parts = [
    `step ${step}/${steps}`,
    `reward ${row.reward!.toFixed(3)}`,
    `kl ${row.kl_ref!.toExponential(2)}`,
    `${Math.round(row.time!.tokens_per_s)} tok/s`,
    `ETA ${formatDuration((elapsed / step) * (steps - step))}`,
  ];
  progress.update(parts.join('  '));
  if (row.eval) progress.log(`step ${step}  eval ${formatEval(row.eval)}`);
}

function formatEval(metrics: Record<string, unknown>): string {
  return Object.entries(metrics)
    .filter(([k, v]) => typeof v === 'number' && (k.startsWith('avg@') || k.startsWith('pass@') || k.startsWith('maj@')))
    .map(([k, v]) => `${k} ${(v as number).toFixed(3)}`)
    .join('  ');
}

/**
 * The run's models and codec: the policy (frozen under a LoRA adapter), what the optimiser moves, the
 * reference (a separate frozen copy, or none when the adapter's base is the reference), and the task seen
 * through the policy's tokenizer, chat template and end ids.
 */
async function openRunModels(config: RlConfig, startModel: string, engine: Engine, task: ReturnType<typeof getTask>) {
  // What the policy will hold, for placing a model past one 4 GiB memory (responses of up to 512 new
  // tokens after a prompt of up to 256 unless maxNewTokens says otherwise).
  const T = 256 + (config.maxNewTokens ?? 512);
  const work = { optimizer: true, loraRank: config.loraRank, trainRows: Math.ceil((config.promptsPerStep * config.groupSize) / config.miniBatches) * T, sample: { batch: config.promptsPerStep * config.groupSize, maxT: T } };
  const { model: policy, tokenizer } = loadModel(startModel, engine, { trainable: config.loraRank === 0, recompute: config.recompute, work });
  // The adapter's initialisation has a stream of its own, so full fine-tuning draws what it always drew.
  const trained = trainedParameters(policy, engine, config, new Rng(config.seed).fork());
  const base = trained.adapter ? { path: startModel, sha256: await baseModelHash(startModel) } : null;
  // The reference only scores whole batches (~1,000 rows), where a pre-packed copy of its weights pays
  // ~1x (bench/RESULTS.md "Pre-packed constant weights"): not worth the memory. A LoRA policy's frozen
  // base is pre-packed (loadModel's default): its rollouts decode one row per sequence.
  const reference = config.reference === undefined && trained.adapter ? null : loadModel(config.reference ?? startModel, engine, { trainable: false, prepack: false }).model;
  if (reference && reference.config.vocabSize !== policy.config.vocabSize) throw new PrlError(`reference ${config.reference}: vocabulary of ${reference.config.vocabSize} tokens, the policy has ${policy.config.vocabSize}`);
  const codec = createCodec(task, tokenizer, {
    chatPrompt: config.chatTemplate === 'auto' && tokenizer.chatTemplate !== undefined ? chatRenderer(tokenizer.chatTemplate, specialTexts(tokenizer)) : undefined,
    endIds: endOfSequenceIds(policy.config, tokenizer),
  });
  return { policy, trained, base, reference, codec };
}

/** The BOS and EOS texts a chat template may print. */
function specialTexts(tokenizer: TaskCodec['tokenizer']): { bosToken?: string; eosToken?: string } {
  return {
    bosToken: tokenizer.bosId === undefined ? undefined : tokenizer.tokenText(tokenizer.bosId),
    eosToken: tokenizer.eosId === undefined ? undefined : tokenizer.tokenText(tokenizer.eosId),
  };
}

/**
 * PAV training data: Monte Carlo step labels (Setlur et al., arXiv 2410.08146, Sec. 4 and App. D;
 * SPEC.md "PAV: training data and verifier").
 *
 * For each prompt, n_cov seed responses are sampled from the policy; every step boundary of every seed
 * (and the prompt alone) is continued n_mc times by the rollout policy, and Q_hat of that prefix is the
 * mean outcome reward of those continuations. A prefix that already ended (end token, or the token
 * budget spent) needs no rollout: its value is its reward, exactly (`rollouts` 0).
 *
 * Provers: `policy` (Q^pi), `bok:K` (the paper's Best-of-K of the policy: Q^pi is estimated and
 * Q^{BoK} = 1 - (1 - Q^pi)^K computed from it), a model folder (rollouts under that model: Q^mu), or
 * `oracle:gamma=G` on planted (rollouts under the exact prover mu(gamma)).
 *
 * Seed strategies: `random` (the seeds as sampled) and `first-pit`: from states whose Q_hat >= 0.5 (by default), take
 * failed rollouts and keep each new trace up to its first step with Q_hat = 0 (the "pit").
 */
import { bestOfKValue, isFinished, stepEnds } from '../algos/index.js';
import type { LlamaModel } from '../engine/model.js';
import type { Tokenizer } from '../engine/tokenizer.js';
import { generateFromPrefixes } from '../engine/sampler.js';
import type { CodedProblem, ReadResponse, TaskCodec } from '../tasks/codec.js';
import { describeValue, inputError } from '../util/errors.js';
import type { JsonlRecord } from '../util/fs.js';
import type { Rng } from '../util/rng.js';
import type { Roller, RolloutRequest } from './rollers.js';

/** One labelled trace: a line of `prl label`'s JSONL. */
export interface LabelRecord {
  problem: string;
  prompt: string;
  /** `seed` (sampled from the policy) or `first-pit` (a failed rollout kept up to its first zero-value step). */
  source: 'seed' | 'first-pit';
  /** Response token ids (the end token included when sampled) and the index of each step's last token. */
  response_ids: number[];
  step_ends: number[];
  /** Step texts; their concatenation is the response text. */
  steps: string[];
  /** Outcome reward of the response. */
  reward: number;
  /** Per step h: rollouts from the prefix ending with step h (0 = the prefix is terminal, value exact) and successes. */
  rollouts: number[];
  successes: number[];
  /** Monte Carlo Q of the rollout policy per step: successes / rollouts (the reward when terminal). */
  q_mc: number[];
  /** The prover's Q per step: q_mc, or 1 - (1 - q_mc)^K for bok:K. */
  q: number[];
  /** The same for the prompt alone (V at s_1, the first step's baseline). */
  v0_rollouts: number;
  v0_successes: number;
  v0_mc: number;
  v0: number;
  prover: string;
}

export type SeedStrategy = 'random' | 'first-pit';

export interface LabelOptions {
  nCov: number;
  nMc: number;
  strategy: SeedStrategy;
  /** `bok:K` applies the formula to the Monte Carlo values; anything else reports them as they are. */
  prover: string;
  temperature: number;
  maxNewTokens: number;
  rng: Rng;
  /** Prompts labelled per batch of rollouts (default 8). */
  promptsPerBatch?: number;
  /** first-pit: a state is high-value when Q_hat >= this (default 0.5). */
  pitThreshold?: number;
  /** Called after each batch with the problems labelled so far and the total. */
  onProgress?: (done: number, total: number) => void;
}

/** A response split into steps through the codec (SPEC.md: steps are lines for text tasks). */
export interface SteppedResponse {
  read: ReadResponse;
  ends: number[];
  steps: string[];
}

/** Reads a response and cuts it into steps at the codec's split; step texts concatenate to the text. */
export function responseSteps(codec: TaskCodec, problem: CodedProblem, responseIds: readonly number[]): SteppedResponse {
  const read = codec.read(problem, responseIds);
  const ends = stepEnds(codec.stepSplit, { mask: read.mask, text: read.text, tokenOffsets: read.offsets, tokenIds: responseIds });
  const steps: string[] = [];
  let begin = 0;
  for (const end of ends) {
    const from = Math.min(read.offsets[begin] ?? read.text.length, read.text.length);
    const to = end + 1 < read.offsets.length ? read.offsets[end + 1] : read.text.length;
    steps.push(read.text.slice(from, to));
    begin = end + 1;
  }
  return { read, ends, steps };
}

/** The prompt text of a coded problem (its BOS left out). */
export function promptText(codec: TaskCodec, problem: CodedProblem): string {
  return codec.tokenizer.decode(problem.promptTokens.filter((id) => id !== codec.tokenizer.bosId));
}

/** K of a `bok:K` prover spec, or null. */
export function bestOfKOf(prover: string): number | null {
  const match = /^bok:([1-9][0-9]*)$/.exec(prover);
  return match ? Number(match[1]) : null;
}

/** Wilson score interval for a binomial proportion (Wilson 1927); z = 1.96 is 95%, 3.29 is 99.9%. */
export function wilsonInterval(successes: number, n: number, z = 1.96): [number, number] {
  if (n === 0) return [0, 1];
  const p = successes / n;
  const denom = 1 + (z * z) / n;
  const centre = (p + (z * z) / (2 * n)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / denom;
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

/** One prefix to value: the response so far (ids) and whether it already ended. */
interface PendingPrefix {
  problem: CodedProblem;
  response: number[];
  terminal: boolean;
  reward: number;
  rollouts: number;
  successes: number;
  /** Failed continuations (full responses) kept for first-pit. */
  failures: number[][];
}

/** Estimates Q_hat of every non-terminal prefix by n_mc rollouts of `roller`, batched over all prefixes. */
function valuePrefixes(prefixes: PendingPrefix[], roller: Roller, codec: TaskCodec, nMc: number, maxNewTokens: number, rng: Rng, keepFailures: boolean): void {
  const open = prefixes.filter((p) => !p.terminal);
  const requests: RolloutRequest[] = open.map((p) => ({ tokens: [...p.problem.promptTokens, ...p.response], maxNewTokens: maxNewTokens - p.response.length }));
  const continuations = roller.rollouts(requests, nMc, rng);
  open.forEach((p, i) => {
    p.rollouts = nMc;
    p.successes = 0;
    for (const continuation of continuations[i]) {
      const full = [...p.response, ...continuation];
      const reward = codec.read(p.problem, full).reward;
      p.successes += reward;
      if (keepFailures && reward <= 0) p.failures.push(full);
    }
  });
  for (const p of prefixes) {
    if (p.terminal) {
      p.rollouts = 0;
      p.successes = p.reward;
    }
  }
}

/** Prefixes after each step of a response (step h = the response through ends[h]). */
function stepPrefixes(codec: TaskCodec, problem: CodedProblem, response: number[], ends: number[], reward: number, maxNewTokens: number): PendingPrefix[] {
  return ends.map((end) => {
    const prefix = response.slice(0, end + 1);
    const terminal = isFinished(prefix, codec.stopIds, maxNewTokens);
    return { problem, response: prefix, terminal, reward: terminal ? codec.read(problem, prefix).reward : reward, rollouts: 0, successes: 0, failures: [] };
  });
}

function qOf(p: PendingPrefix): number {
  return p.rollouts === 0 ? p.successes : p.successes / p.rollouts;
}

/**
 * Labels `problems`: n_cov seeds per prompt from `policy`, Q_hat at every step boundary by `roller`
 * (see the module comment). Returns one record per trace (seeds, then first-pit traces).
 */
export function labelProblems(policy: LlamaModel, roller: Roller, codec: TaskCodec, problems: readonly CodedProblem[], options: LabelOptions): LabelRecord[] {
  const { nCov, nMc, rng, maxNewTokens } = options;
  if (!(Number.isInteger(nCov) && nCov >= 1)) throw inputError('label: nCov', `must be a positive integer, got ${nCov}`);
  if (!(Number.isInteger(nMc) && nMc >= 1)) throw inputError('label: nMc', `must be a positive integer, got ${nMc}`);
  const k = bestOfKOf(options.prover);
  const proverQ = (q: number): number => (k === null ? q : bestOfKValue(q, k));
  const perBatch = options.promptsPerBatch ?? 8;
  const records: LabelRecord[] = [];
  for (let start = 0; start < problems.length; start += perBatch) {
    const batch = problems.slice(start, start + perBatch);
    const seeds = generateFromPrefixes(policy, batch.map((p) => p.promptTokens), nCov, { maxNewTokens, temperature: options.temperature, stopTokens: codec.stopIds, rng });
    const starts: PendingPrefix[] = batch.map((problem) => ({ problem, response: [], terminal: false, reward: 0, rollouts: 0, successes: 0, failures: [] }));
    const traces = batch.flatMap((problem, p) =>
      seeds[p].map((seed) => {
        const stepped = responseSteps(codec, problem, seed.tokens);
        return { problem, start: starts[p], response: seed.tokens, stepped, prefixes: stepPrefixes(codec, problem, seed.tokens, stepped.ends, stepped.read.reward, maxNewTokens) };
      }),
    );
    const keepFailures = options.strategy === 'first-pit';
    valuePrefixes([...starts, ...traces.flatMap((t) => t.prefixes)], roller, codec, nMc, maxNewTokens, rng, keepFailures);

    const record = (t: { problem: CodedProblem; start: PendingPrefix; response: number[]; stepped: SteppedResponse; prefixes: PendingPrefix[] }, source: LabelRecord['source'], keep: number): LabelRecord => {
      const qMc = t.prefixes.slice(0, keep).map(qOf);
      const ends = t.stepped.ends.slice(0, keep);
      const responseIds = source === 'seed' ? t.response : t.response.slice(0, ends[ends.length - 1] + 1);
      return {
        problem: t.problem.id,
        prompt: promptText(codec, t.problem),
        source,
        response_ids: responseIds,
        step_ends: ends,
        steps: t.stepped.steps.slice(0, keep),
        reward: source === 'seed' ? t.stepped.read.reward : codec.read(t.problem, responseIds).reward,
        rollouts: t.prefixes.slice(0, keep).map((p) => p.rollouts),
        successes: t.prefixes.slice(0, keep).map((p) => p.successes),
        q_mc: qMc,
        q: qMc.map(proverQ),
        v0_rollouts: t.start.rollouts,
        v0_successes: t.start.successes,
        v0_mc: qOf(t.start),
        v0: proverQ(qOf(t.start)),
        prover: options.prover,
      };
    };
    for (const t of traces) records.push(record(t, 'seed', t.prefixes.length));
    if (!keepFailures) {
      options.onProgress?.(start + batch.length, problems.length);
      continue;
    }

    // First pit: per prompt up to n_cov failed rollouts from high-value (Q_hat >= threshold) open prefixes.
    const pitThreshold = options.pitThreshold ?? 0.5;
    const pits = batch.flatMap((problem) => {
      const candidates = traces.filter((t) => t.problem === problem).flatMap((t) => t.prefixes.map((p, h) => ({ t, p, h }))).filter(({ p }) => !p.terminal && qOf(p) >= pitThreshold && p.failures.length > 0);
      rng.shuffle(candidates);
      return candidates.slice(0, nCov).map(({ t, p, h }) => {
        const response = p.failures[rng.int(p.failures.length)];
        const stepped = responseSteps(codec, problem, response);
        const fresh = stepPrefixes(codec, problem, response, stepped.ends, stepped.read.reward, maxNewTokens);
        // The seed's own prefixes are already valued; only the new steps need rollouts.
        const prefixes = [...t.prefixes.slice(0, h + 1), ...fresh.slice(h + 1)];
        return { problem, start: t.start, response, stepped, prefixes, from: h + 1 };
      });
    });
    valuePrefixes(pits.flatMap((t) => t.prefixes.slice(t.from)), roller, codec, nMc, maxNewTokens, rng, false);
    for (const t of pits) {
      const pit = t.prefixes.findIndex((p, h) => h >= t.from && qOf(p) === 0);
      records.push(record(t, 'first-pit', pit < 0 ? t.prefixes.length : pit + 1));
    }
    options.onProgress?.(start + batch.length, problems.length);
  }
  return records;
}

/**
 * TRL's stepwise-supervision format (`prompt`, `completions` = the steps, `labels` per step), so
 * Python PRM trainers (trl.PRMTrainer) can use prl's labels: `hard` labels are Q_hat >= 0.5 (booleans),
 * `soft` labels the prover's Q_hat itself.
 */
export function toStepwiseSupervision(record: LabelRecord, kind: 'hard' | 'soft'): { prompt: string; completions: string[]; labels: Array<boolean | number> } {
  return { prompt: record.prompt, completions: record.steps, labels: record.q.map((q) => (kind === 'hard' ? q >= 0.5 : q)) };
}

/**
 * Validates `prl label` lines for training a verifier over `tokenizer`'s vocabulary: every field the
 * training reads, with errors naming `source:line: field`.
 */
export function parseLabelRecords(records: readonly JsonlRecord[], source: string, tokenizer: Tokenizer): LabelRecord[] {
  return records.map(({ line, value }) => {
    const where = `${source}:${line}`;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw inputError(where, `expected a JSON object, got ${describeValue(value)}`);
    const rec = value as Record<string, unknown>;
    const field = <T>(name: string, ok: (v: unknown) => v is T, expected: string): T => {
      if (!ok(rec[name])) throw inputError(`${where}: ${name}`, `expected ${expected}, got ${describeValue(rec[name])}`);
      return rec[name] as T;
    };
    const isString = (v: unknown): v is string => typeof v === 'string';
    const isProbability = (v: unknown): v is number => typeof v === 'number' && v >= 0 && v <= 1;
    const arrayOf = <T>(ok: (v: unknown) => v is T) => (v: unknown): v is T[] => Array.isArray(v) && v.every(ok);
    const isTokenId = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) < tokenizer.vocabSize;
    field('problem', isString, 'a string');
    field('prover', isString, 'a string');
    const prompt = field('prompt', isString, 'a string');
    try {
      tokenizer.encode(prompt);
    } catch (err) {
      throw inputError(`${where}: prompt`, (err as Error).message);
    }
    const responseIds = field('response_ids', arrayOf(isTokenId), `token ids below ${tokenizer.vocabSize}`);
    const steps = field('steps', arrayOf(isString), 'an array of strings');
    const isStepEnd = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) < responseIds.length;
    const stepEnds = field('step_ends', arrayOf(isStepEnd), `indices into response_ids (0..${responseIds.length - 1})`);
    if (stepEnds.length !== steps.length) throw inputError(`${where}: step_ends`, `expected one per step (${steps.length}), got ${stepEnds.length}`);
    const qMc = field('q_mc', arrayOf(isProbability), 'values in [0, 1]');
    if (qMc.length !== steps.length) throw inputError(`${where}: q_mc`, `expected one per step (${steps.length}), got ${qMc.length}`);
    field('v0_mc', isProbability, 'a value in [0, 1]');
    return rec as unknown as LabelRecord;
  });
}

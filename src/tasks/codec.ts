/**
 * A task seen through a model's vocabulary: prompts as token ids, sampled ids back to text, the
 * response mask and the outcome reward. Trainers, evaluators and search work on codecs, so they never
 * care whether a task is text (arith, math) or token ids (planted).
 *
 * Token tasks (planted) get a character vocabulary too, so their model folders carry a real
 * tokenizer.json and their traces are readable: task token a < 14 is the character "0123456789abcd"[a].
 */
import { parseStepSplit, type StepSplit } from '../algos/index.js';
import { CharTokenizer, prefixDecodeOffsets, type Tokenizer } from '../engine/tokenizer.js';
import type { Task, TextProblem, TokenProblem } from './types.js';
import { PrlError } from '../util/errors.js';
import type { Rng } from '../util/rng.js';

export const EOS = '<eos>';
export const BOS = '<bos>';
/** Task token a (< the end token) is this string's character a in a token task's tokenizer. */
export const TOKEN_TASK_SYMBOLS = '0123456789abcdefghijklmnopqrstuvwxyz';

/** One prompt of the task, ready for the model. */
export interface CodedProblem {
  readonly id: string;
  readonly promptTokens: number[];
  readonly source: TextProblem | TokenProblem;
}

/** A sampled response read back through the task. */
export interface ReadResponse {
  /** The response as text, without the end token (token tasks: one character per token). */
  text: string;
  /** Character offset of each response token in `text`. */
  offsets: number[];
  /** 1 for tokens the policy is trained on, 0 for the rest (SPEC: planted masks its end token). */
  mask: number[];
  reward: number;
  /** The final answer the response commits to (text tasks), for maj@n. */
  answer: string | null;
}

export interface TaskCodec {
  readonly task: Task;
  readonly tokenizer: Tokenizer;
  readonly eosId: number;
  /** Every id that ends a response: the tokenizer's EOS and the model's (generation_config.json may list several). */
  readonly stopIds: number[];
  /** How PRL and PAV split a response into steps: the task's delimiter or step length. */
  readonly stepSplit: StepSplit;
  /** Generation budget per response. */
  readonly maxNewTokens: number;
  problems(split: 'train' | 'eval'): CodedProblem[];
  read(problem: CodedProblem, responseTokens: readonly number[]): ReadResponse;
  /** Supervised (prompt, response) pairs for the warm start; the response ends with the end token. */
  sftExamples(count: number, rng: Rng): Array<{ prompt: number[]; response: number[] }>;
}

/** The tokenizer a fresh model for `task` gets: characters of the task plus `<eos>` and `<bos>`. */
export function taskTokenizer(task: Task): Tokenizer {
  if (task.kind === 'tokens') {
    if (task.vocabSize - 1 > TOKEN_TASK_SYMBOLS.length) throw new PrlError(`task ${task.name}: vocabulary of ${task.vocabSize} is too large for a symbol tokenizer`);
    return new CharTokenizer({ alphabet: TOKEN_TASK_SYMBOLS.slice(0, task.vocabSize - 1), specialTokens: [EOS, BOS], eos: EOS, bos: BOS });
  }
  if (task.alphabet === undefined) throw new PrlError(`task ${task.name}: no alphabet; give a model folder with a tokenizer (--model)`);
  const specials = [...new Set([EOS, BOS, ...task.specialTokens])];
  return new CharTokenizer({ alphabet: task.alphabet, specialTokens: specials, eos: EOS, bos: BOS });
}

/** How a real checkpoint wants its prompts and ends: a chat template, and the model's own end ids. */
/**
 * Each token's text for traces. Hugging Face checkpoints pad the embedding past the tokenizer (Qwen2.5: 151,936
 * rows, 151,665 tokens), and an untrained policy may sample a padding row: it shows as `<unused ID>` instead
 * of stopping the run.
 */
export function traceTokenTexts(tokenizer: Tokenizer, ids: readonly number[]): string[] {
  return ids.map((id) => (id < tokenizer.vocabSize ? tokenizer.tokenText(id) : `<unused ${id}>`));
}

export interface CodecOptions {
  /** Renders a text task's prompt as the user's turn (`tasks/chat.ts`); its text carries any BOS itself. */
  chatPrompt?: (prompt: string) => string;
  /** More ids that end a response besides the tokenizer's EOS (config.json / generation_config.json). */
  endIds?: readonly number[];
}

/** Joins a task to a tokenizer (a fresh `taskTokenizer(task)` or the one of a loaded model folder). */
export function createCodec(task: Task, tokenizer: Tokenizer, options: CodecOptions = {}): TaskCodec {
  const eosId = tokenizer.eosId ?? options.endIds?.[0];
  if (eosId === undefined) throw new PrlError(`the tokenizer has no end-of-sequence token; task ${task.name} needs one to end responses`);
  const stopIds = [...new Set([eosId, ...(options.endIds ?? [])])];
  return task.kind === 'tokens' ? tokenTaskCodec(task, tokenizer, eosId) : textTaskCodec(task, tokenizer, eosId, stopIds, options.chatPrompt);
}

function withBos(tokenizer: Tokenizer, ids: number[]): number[] {
  return tokenizer.bosId === undefined ? ids : [tokenizer.bosId, ...ids];
}

function textTaskCodec(task: Extract<Task, { kind: 'text' }>, tokenizer: Tokenizer, eosId: number, stopIds: number[], chatPrompt?: (prompt: string) => string): TaskCodec {
  const encodePrompt = (prompt: string): number[] => (chatPrompt ? tokenizer.encode(chatPrompt(prompt)).ids : withBos(tokenizer, tokenizer.encode(prompt).ids));
  const code = (p: TextProblem): CodedProblem => ({ id: p.id, promptTokens: encodePrompt(p.prompt), source: p });
  const ends = new Set(stopIds);
  // A character tokenizer needs one token per character; subword tokenizers need fewer, so this bounds both.
  const maxNewTokens = task.maxResponseChars + 1;
  return {
    task,
    tokenizer,
    eosId,
    stopIds,
    stepSplit: parseStepSplit(`text:${JSON.stringify(task.stepDelimiter).slice(1, -1)}`),
    maxNewTokens,
    problems: (split) => (split === 'train' ? task.trainProblems() : task.evalProblems()).map(code),
    read(problem, responseTokens) {
      const end = responseTokens.findIndex((id) => ends.has(id));
      const content = end < 0 ? [...responseTokens] : responseTokens.slice(0, end);
      const text = tokenizer.decode(content);
      const offsets = prefixDecodeOffsets(text, [...responseTokens], (ids) => tokenizer.decode(ids.filter((id) => !ends.has(id))));
      // The end token is trained too: the policy must learn to stop. Anything after it was never sampled.
      const mask = responseTokens.map((_, t) => (end < 0 || t <= end ? 1 : 0));
      const source = problem.source as TextProblem;
      return { text, offsets, mask, reward: task.reward(source, text), answer: task.extractAnswer(text) };
    },
    sftExamples(count, rng) {
      if (!task.sftCorpus) throw new PrlError(`task ${task.name} has no supervised corpus for a warm start`);
      return task.sftCorpus(count, rng).map((ex) => ({
        prompt: encodePrompt(ex.prompt),
        response: [...tokenizer.encode(ex.response).ids, eosId],
      }));
    },
  };
}

function tokenTaskCodec(task: Extract<Task, { kind: 'tokens' }>, tokenizer: Tokenizer, eosId: number): TaskCodec {
  const symbol = (a: number): number => {
    if (a === task.eosToken) return eosId;
    const id = tokenizer.encode(TOKEN_TASK_SYMBOLS[a]).ids;
    if (id.length !== 1) throw new PrlError(`task ${task.name}: the tokenizer has no single token for symbol ${a}`);
    return id[0];
  };
  const toModel = Array.from({ length: task.vocabSize }, (_, a) => symbol(a));
  const fromModel = new Map(toModel.map((id, a) => [id, a]));
  const toTask = (id: number): number => fromModel.get(id) ?? task.eosToken; // off-vocabulary ids end the response
  const code = (p: TokenProblem): CodedProblem => ({ id: p.id, promptTokens: withBos(tokenizer, p.promptTokens.map((a) => toModel[a])), source: p });
  return {
    task,
    tokenizer,
    eosId,
    stopIds: [eosId],
    stepSplit: { kind: 'length', length: task.stepLength },
    maxNewTokens: task.responseLength,
    problems: (split) => (split === 'train' ? task.trainProblems() : task.evalProblems()).map(code),
    read(problem, responseTokens) {
      const taskTokens = responseTokens.map(toTask);
      const mask = task.responseMask(taskTokens);
      const end = taskTokens.indexOf(task.eosToken);
      const content = end < 0 ? taskTokens : taskTokens.slice(0, end);
      const text = content.map((a) => TOKEN_TASK_SYMBOLS[a]).join('');
      const offsets = taskTokens.map((_, t) => Math.min(t, text.length));
      return { text, offsets, mask, reward: task.reward(problem.source as TokenProblem, taskTokens), answer: null };
    },
    sftExamples(count, rng) {
      if (!task.sftCorpus) throw new PrlError(`task ${task.name} has no supervised corpus for a warm start`);
      const prompt = withBos(tokenizer, []);
      return task.sftCorpus(count, rng).map((tokens) => {
        const end = tokens.indexOf(task.eosToken);
        const response = (end < 0 ? tokens : tokens.slice(0, end + 1)).map((a) => toModel[a]);
        return { prompt, response };
      });
    },
  };
}

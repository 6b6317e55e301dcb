/**
 * One interface for every language model prl samples from or scores with: prl's own CPU engine,
 * llama.cpp, and OpenAI-compatible HTTP servers (vLLM, SGLang, llama.cpp's server). Sampling,
 * search, Monte Carlo labelling and evaluation only ever see a `Policy`.
 */

/** A prompt as text, or as token ids already tokenised for the policy's vocabulary. */
export type Prompt = string | readonly number[];

/**
 * Token identities of a completion: ids when the backend gives them, otherwise the decoded token
 * strings the server reported (one per generated token either way).
 */
export type TokenList = number[] | string[];

/** Why generation stopped: `stop` (end of sequence or a stop string), `length` (max_tokens). */
export type FinishReason = 'stop' | 'length' | (string & {});

export interface SampleRequest {
  /** A batch of prompts; each gets `n` independent completions. */
  prompts: readonly Prompt[];
  /** Completions per prompt (>= 1). */
  n: number;
  /** Softmax temperature; 0 means greedy. */
  temperature: number;
  /** Nucleus sampling mass in (0, 1]; default 1 (off). */
  topP?: number;
  /** Keep the k most likely tokens; default off. Not every backend supports it. */
  topK?: number;
  /** Most tokens generated per completion (>= 1). */
  maxTokens: number;
  /** Generation stops before any of these strings; the string is not part of `text`. */
  stop?: readonly string[];
  /** Seed for reproducible sampling where the backend supports it (`capabilities.seed`). */
  seed?: number;
}

export interface Completion {
  /** Generated text, without the prompt and without a matched stop string. */
  text: string;
  /**
   * One entry per generated token. A backend may report the token that completed a stop string
   * (vLLM does); its text then lies past the end of `text`.
   */
  tokens: TokenList;
  /** log pi(token | prefix) of each generated token, natural log, <= 0. */
  logprobs: number[];
  /**
   * Char offset in `text` (UTF-16 units) where each token starts: non-decreasing, within
   * [0, text.length]. Tokens that are pieces of one character share an offset.
   */
  offsets: number[];
  finishReason: FinishReason;
}

/** A continuation to teacher-force after a prompt. Text with text; ids with ids or text. */
export interface ScoreItem {
  prompt: Prompt;
  continuation: string | readonly number[];
}

export interface ScoreRequest {
  items: readonly ScoreItem[];
}

export interface ScoredContinuation {
  /** The continuation's tokens as the backend tokenised them (ids when available). */
  tokens: TokenList;
  /** log pi(token | prompt, earlier continuation tokens) of each continuation token. */
  logprobs: number[];
  /** Char offset of each token in the continuation text. */
  offsets: number[];
  /**
   * False when text scoring found a token spanning the prompt/continuation boundary (the
   * tokenizer merged across it); that token is counted as the continuation's first. Scoring with
   * token ids is always exact.
   */
  exactBoundary: boolean;
}

/** What a backend can do; callers and the contract tests branch on it rather than on its type. */
export interface PolicyCapabilities {
  /** Same seed and request give the same completions. */
  seed: boolean;
  /** `Completion.tokens` are ids (so `score` can teacher-force exactly the sampled tokens). */
  tokenIds: boolean;
  /** `topK` is honoured. */
  topK: boolean;
}

export interface Policy {
  /** The spec it was opened from, safe to print (no secrets). */
  readonly name: string;
  readonly capabilities: PolicyCapabilities;
  /** Completions per prompt: result[i] has `n` completions of `prompts[i]`. */
  sample(request: SampleRequest): Promise<Completion[][]>;
  /** Teacher-forced per-token log-probs of each continuation after its prompt. */
  score(request: ScoreRequest): Promise<ScoredContinuation[]>;
  /** Cancels work in flight and frees resources; later calls fail. */
  close(): Promise<void>;
}

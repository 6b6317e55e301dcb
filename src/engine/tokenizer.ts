/**
 * Tokenizers: a character-level one for the toy tasks (saved as a genuine HF tokenizer.json), and
 * any HF tokenizer.json through `@huggingface/tokenizers`. Both report where each token starts in
 * the text, which step segmentation needs (a step ends at "\n\n", even inside a merged token).
 *
 * Offsets are UTF-16 indices into the JS string (what `text.slice` takes). A token that starts in the
 * middle of a character (byte-level BPE splitting a multi-byte character) gets the offset of that
 * character.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer as HfLibTokenizer } from '@huggingface/tokenizers';
import { PrlError, inputError } from '../util/errors.js';
import { readJsonFile } from '../util/fs.js';

export interface Encoded {
  ids: number[];
  /** offsets[i]: index in the text where token i starts; non-decreasing. */
  offsets: number[];
}

export interface Tokenizer {
  vocabSize: number;
  /** Tokens of `text`, without BOS/EOS: callers add those explicitly. Special tokens written in the text are recognised. */
  encode(text: string): Encoded;
  decode(ids: number[]): string;
  /** The text of one token, as it would appear in decoded output. */
  tokenText(id: number): string;
  eosId?: number;
  bosId?: number;
  chatTemplate?: string;
  /** The tokenizer.json contents. */
  toJSON(): object;
}

/** HF tokenizer_config.json fields: special tokens are strings or `{ content }` objects. */
function specialTokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------
// Character-level tokenizer

/** The pre-tokenizer regex that isolates every character (any code point, newlines included). */
const EVERY_CHARACTER = '[\\s\\S]';

export interface CharTokenizerOptions {
  /** The characters of the vocabulary, in id order after the special tokens. */
  alphabet: string | string[];
  /** Special tokens, ids 0.. in order, e.g. ['<pad>', '<eos>']. */
  specialTokens?: string[];
  eos?: string;
  bos?: string;
  pad?: string;
  /** Token for characters outside the alphabet; without one they are an error. */
  unk?: string;
  chatTemplate?: string;
}

/**
 * One token per character. Saved as an HF `tokenizers` file: a WordLevel model, a `Split`
 * pre-tokenizer that isolates each character, and a `Fuse` decoder that concatenates tokens.
 */
export class CharTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly eosId?: number;
  readonly bosId?: number;
  readonly padId?: number;
  readonly unkId?: number;
  readonly chatTemplate?: string;
  private readonly vocab: string[];
  private readonly ids = new Map<string, number>();
  private readonly specials: string[];

  constructor(options: CharTokenizerOptions) {
    const alphabet = typeof options.alphabet === 'string' ? Array.from(options.alphabet) : options.alphabet;
    this.specials = options.specialTokens ?? [];
    for (const ch of alphabet) {
      if (Array.from(ch).length !== 1) throw new PrlError(`CharTokenizer: alphabet entry ${JSON.stringify(ch)} is not one character`);
    }
    this.vocab = [...this.specials, ...alphabet];
    this.vocab.forEach((token, id) => {
      if (this.ids.has(token)) throw new PrlError(`CharTokenizer: token ${JSON.stringify(token)} appears twice`);
      this.ids.set(token, id);
    });
    this.vocabSize = this.vocab.length;
    const special = (name: string, token: string | undefined): number | undefined => {
      if (token === undefined) return undefined;
      const id = this.ids.get(token);
      if (id === undefined) throw new PrlError(`CharTokenizer: ${name} token ${JSON.stringify(token)} is not in the vocabulary`);
      return id;
    };
    this.eosId = special('eos', options.eos);
    this.bosId = special('bos', options.bos);
    this.padId = special('pad', options.pad);
    this.unkId = special('unk', options.unk);
    this.chatTemplate = options.chatTemplate;
    // Longest first, so that "<eos>" wins over a shorter special token that prefixes it.
    this.specials = [...this.specials].sort((a, b) => b.length - a.length);
  }

  encode(text: string): Encoded {
    const ids: number[] = [];
    const offsets: number[] = [];
    let i = 0;
    while (i < text.length) {
      const special = this.specials.find((s) => text.startsWith(s, i));
      const token = special ?? String.fromCodePoint(text.codePointAt(i)!);
      let id = this.ids.get(token);
      if (id === undefined) {
        if (this.unkId === undefined) throw new PrlError(`CharTokenizer: character ${JSON.stringify(token)} at offset ${i} is not in the vocabulary`);
        id = this.unkId;
      }
      ids.push(id);
      offsets.push(i);
      i += token.length;
    }
    return { ids, offsets };
  }

  decode(ids: number[]): string {
    return ids.map((id) => this.tokenText(id)).join('');
  }

  tokenText(id: number): string {
    const token = this.vocab[id];
    if (token === undefined) throw new PrlError(`CharTokenizer: token id ${id} is outside the vocabulary (size ${this.vocabSize})`);
    return token;
  }

  toJSON(): object {
    const specialSet = new Set(this.specials);
    return {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: this.vocab
        .map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }))
        .filter((t) => specialSet.has(t.content)),
      normalizer: null,
      pre_tokenizer: { type: 'Split', pattern: { Regex: EVERY_CHARACTER }, behavior: 'Isolated', invert: false },
      post_processor: null,
      decoder: { type: 'Fuse' },
      model: {
        type: 'WordLevel',
        vocab: Object.fromEntries(this.vocab.map((token, id) => [token, id])),
        unk_token: this.unkId === undefined ? '<unk>' : this.vocab[this.unkId],
      },
    };
  }

  /** True when `json` is a tokenizer.json written by `toJSON` (so it loads back as a CharTokenizer). */
  static isCharTokenizerJson(json: unknown): boolean {
    const j = json as { model?: { type?: unknown }; pre_tokenizer?: { type?: unknown; pattern?: { Regex?: unknown } }; decoder?: { type?: unknown } } | null;
    return j?.model?.type === 'WordLevel' && j.pre_tokenizer?.type === 'Split' && j.pre_tokenizer.pattern?.Regex === EVERY_CHARACTER && j.decoder?.type === 'Fuse';
  }

  /** Rebuilds a CharTokenizer from its tokenizer.json and tokenizer_config.json; `source` names the file in errors. */
  static fromJSON(json: unknown, config: Record<string, unknown>, source: string): CharTokenizer {
    if (!CharTokenizer.isCharTokenizerJson(json)) throw inputError(source, 'not a character-level tokenizer (WordLevel + Split per character + Fuse)');
    const j = json as { model: { vocab?: unknown; unk_token?: unknown }; added_tokens?: unknown };
    const vocab = j.model.vocab;
    if (typeof vocab !== 'object' || vocab === null || Array.isArray(vocab)) throw inputError(source, 'model.vocab must be an object');
    const byId: string[] = [];
    for (const [token, id] of Object.entries(vocab as Record<string, unknown>)) {
      if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) throw inputError(source, `model.vocab.${token}: expected a token id`);
      if (byId[id] !== undefined) throw inputError(source, `model.vocab: id ${id} is used twice`);
      byId[id] = token;
    }
    const specials = new Set(
      (Array.isArray(j.added_tokens) ? j.added_tokens : []).map((t: unknown) => (t as { content?: unknown } | null)?.content).filter((c): c is string => typeof c === 'string'),
    );
    // Specials come first in id order; the rest is the alphabet. Any other layout is not ours.
    let nSpecial = 0;
    while (nSpecial < byId.length && specials.has(byId[nSpecial])) nSpecial++;
    for (let id = 0; id < byId.length; id++) {
      if (byId[id] === undefined) throw inputError(source, `model.vocab: id ${id} is missing (ids must be 0..${byId.length - 1})`);
      if (id >= nSpecial && specials.has(byId[id])) throw inputError(source, `added token ${JSON.stringify(byId[id])} must come before the alphabet`);
    }
    const unk = typeof j.model.unk_token === 'string' && byId.includes(j.model.unk_token) ? j.model.unk_token : undefined;
    const chatTemplate = typeof config.chat_template === 'string' ? config.chat_template : undefined;
    const special = (field: string): string | undefined => {
      const content = specialTokenContent(config[field]);
      if (content !== undefined && !byId.includes(content)) throw inputError(source, `tokenizer_config.json ${field} ${JSON.stringify(content)} is not in the vocabulary`);
      return content;
    };
    const options = { alphabet: byId.slice(nSpecial), specialTokens: byId.slice(0, nSpecial), eos: special('eos_token'), bos: special('bos_token'), pad: special('pad_token'), unk, chatTemplate };
    try {
      return new CharTokenizer(options);
    } catch (err) {
      // The constructor's messages name the token but not the file it came from.
      if (err instanceof PrlError) throw inputError(source, err.message);
      throw err;
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Any HF tokenizer.json

/** GPT-2's byte-to-unicode table inverted: the printable character a byte-level token uses for each byte. */
const BYTE_OF_CHAR: Map<string, number> = (() => {
  const map = new Map<string, number>();
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    map.set(String.fromCodePoint(printable ? b : 256 + extra++), b);
  }
  return map;
})();

function usesByteLevelDecoder(decoder: unknown): boolean {
  const d = decoder as { type?: unknown; decoders?: unknown[] } | null;
  if (d?.type === 'ByteLevel') return true;
  return d?.type === 'Sequence' && Array.isArray(d.decoders) && d.decoders.some(usesByteLevelDecoder);
}

/** Tokenizer for any HF tokenizer.json (BPE, Unigram, WordPiece, ...) via `@huggingface/tokenizers`. */
export class HfTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly eosId?: number;
  readonly bosId?: number;
  readonly chatTemplate?: string;
  private readonly lib: HfLibTokenizer;
  private readonly byteLevel: boolean;
  private readonly addedTokenIds: Set<number>;

  /** `json`: tokenizer.json; `config`: tokenizer_config.json (eos/bos tokens, chat template); `source` names the file in errors. */
  constructor(
    private readonly json: object,
    readonly config: Record<string, unknown>,
    source: string,
  ) {
    checkIdRange(json, source);
    try {
      this.lib = new HfLibTokenizer(json, config);
    } catch (err) {
      throw inputError(source, `cannot build the tokenizer (${(err as Error).message})`);
    }
    const vocab = this.lib.get_vocab(true);
    this.vocabSize = Math.max(-1, ...vocab.values()) + 1;
    const idOf = (field: string): number | undefined => {
      const content = specialTokenContent(config[field]);
      if (content === undefined) return undefined;
      const id = this.lib.token_to_id(content);
      if (id === undefined) throw inputError(source, `tokenizer_config.json ${field} ${JSON.stringify(content)} is not in the vocabulary`);
      return id;
    };
    this.eosId = idOf('eos_token');
    this.bosId = idOf('bos_token');
    if (typeof config.chat_template === 'string') this.chatTemplate = config.chat_template;
    const j = json as { normalizer?: unknown; decoder?: unknown };
    this.byteLevel = (j.normalizer === null || j.normalizer === undefined) && usesByteLevelDecoder(j.decoder);
    this.addedTokenIds = new Set(this.lib.get_added_tokens_decoder().keys());
  }

  encode(text: string): Encoded {
    const ids = this.lib.encode(text, { add_special_tokens: false }).ids;
    return { ids, offsets: (this.byteLevel && this.byteLevelOffsets(text, ids)) || prefixDecodeOffsets(text, ids, (p) => this.decode(p)) };
  }

  decode(ids: number[]): string {
    return this.lib.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  }

  tokenText(id: number): string {
    if (this.lib.id_to_token(id) === undefined) throw new PrlError(`tokenizer: token id ${id} is outside the vocabulary (size ${this.vocabSize})`);
    return this.decode([id]);
  }

  toJSON(): object {
    return this.json;
  }

  /**
   * Exact offsets for byte-level BPE in linear time: each token is a run of bytes of the UTF-8 text,
   * so cumulative byte counts map to character offsets. Returns null (use the general method) when
   * the tokens' bytes are not exactly the text's bytes.
   */
  private byteLevelOffsets(text: string, ids: number[]): number[] | null {
    const utf8 = Buffer.from(text, 'utf8');
    // charAtByte[b]: UTF-16 index of the character that contains byte b.
    const charAtByte = new Int32Array(utf8.length + 1);
    let b = 0;
    for (let i = 0; i < text.length; ) {
      const cp = text.codePointAt(i)!;
      const nBytes = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
      for (let k = 0; k < nBytes; k++) charAtByte[b++] = i;
      i += cp > 0xffff ? 2 : 1;
    }
    charAtByte[utf8.length] = text.length;
    const offsets: number[] = [];
    let pos = 0;
    for (const id of ids) {
      if (pos > utf8.length) return null;
      offsets.push(charAtByte[pos]);
      const token = this.lib.id_to_token(id) ?? '';
      if (this.addedTokenIds.has(id)) {
        const bytes = Buffer.from(token, 'utf8');
        if (!utf8.subarray(pos, pos + bytes.length).equals(bytes)) return null;
        pos += bytes.length;
        continue;
      }
      for (const ch of token) {
        if (BYTE_OF_CHAR.get(ch) !== utf8[pos]) return null;
        pos++;
      }
    }
    return pos === utf8.length ? offsets : null;
  }
}

/** Ids may run this far past the number of tokens in the file (real files are dense: 0..n-1). */
const ID_SLACK = 65536;

/**
 * @huggingface/tokenizers fills a slot for every id up to the largest, so one id of 2^31 in a file of
 * five tokens takes minutes and gigabytes; such ids are refused first.
 */
function checkIdRange(json: object, source: string): void {
  const j = json as { model?: { vocab?: unknown } | null; added_tokens?: unknown };
  const vocab = j.model?.vocab;
  const entries = typeof vocab === 'object' && vocab !== null && !Array.isArray(vocab) ? Object.entries(vocab) : [];
  const added = Array.isArray(j.added_tokens) ? (j.added_tokens as unknown[]) : [];
  const limit = entries.length + added.length + ID_SLACK;
  const tooLarge = (id: unknown): boolean => typeof id === 'number' && id >= limit;
  for (const [token, id] of entries) {
    if (tooLarge(id)) throw inputError(source, `model.vocab ${JSON.stringify(token)}: id ${String(id)} is far past the ${entries.length} tokens`);
  }
  added.forEach((t, i) => {
    const id = (t as { id?: unknown } | null)?.id;
    if (tooLarge(id)) throw inputError(source, `added_tokens[${i}]: id ${String(id)} is far past the ${entries.length + added.length} tokens`);
  });
}

/**
 * Offsets for any tokenizer: token i starts where the decoded prefix `ids[0..i)` stops agreeing with
 * the text (a prefix ending inside a character decodes to U+FFFD and so stops before it). Quadratic
 * in the number of tokens; used when the byte-level fast path does not apply.
 */
export function prefixDecodeOffsets(text: string, ids: number[], decode: (ids: number[]) => string): number[] {
  const offsets: number[] = [];
  let previous = 0;
  for (let i = 0; i < ids.length; i++) {
    const prefix = i === 0 ? '' : decode(ids.slice(0, i));
    let n = 0;
    const limit = Math.min(prefix.length, text.length);
    while (n < limit && prefix.charCodeAt(n) === text.charCodeAt(n)) n++;
    // Never split a surrogate pair.
    if (n > 0 && n < text.length && isHighSurrogate(text.charCodeAt(n - 1))) n--;
    previous = Math.max(previous, n);
    offsets.push(previous);
  }
  return offsets;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

// ---------------------------------------------------------------------------------------------------
// Loading and saving

/** Loads `dir/tokenizer.json` (+ optional tokenizer_config.json): a CharTokenizer when it is one, else an HfTokenizer. */
export function loadTokenizer(dir: string): Tokenizer {
  const jsonPath = join(dir, 'tokenizer.json');
  const json = readJsonFile(jsonPath);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw inputError(jsonPath, 'not a JSON object');
  const configPath = join(dir, 'tokenizer_config.json');
  const config = existsSync(configPath) ? readJsonFile(configPath) : {};
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw inputError(configPath, 'not a JSON object');
  if (CharTokenizer.isCharTokenizerJson(json)) return CharTokenizer.fromJSON(json, config as Record<string, unknown>, jsonPath);
  return new HfTokenizer(json, config as Record<string, unknown>, jsonPath);
}

/** tokenizer_config.json for `tokenizer`, so that `transformers.AutoTokenizer` loads the folder. */
export function tokenizerConfigJson(tokenizer: Tokenizer): Record<string, unknown> {
  if (tokenizer instanceof HfTokenizer && Object.keys(tokenizer.config).length > 0) return tokenizer.config;
  const out: Record<string, unknown> = { tokenizer_class: 'PreTrainedTokenizerFast', clean_up_tokenization_spaces: false };
  if (tokenizer.bosId !== undefined) out.bos_token = tokenizer.tokenText(tokenizer.bosId);
  if (tokenizer.eosId !== undefined) out.eos_token = tokenizer.tokenText(tokenizer.eosId);
  if (tokenizer instanceof CharTokenizer) {
    if (tokenizer.padId !== undefined) out.pad_token = tokenizer.tokenText(tokenizer.padId);
    if (tokenizer.unkId !== undefined) out.unk_token = tokenizer.tokenText(tokenizer.unkId);
  }
  if (tokenizer.chatTemplate !== undefined) out.chat_template = tokenizer.chatTemplate;
  return out;
}

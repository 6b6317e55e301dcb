/**
 * A model folder's JSON files under mutation: tokenizer.json (character-level and BPE),
 * tokenizer_config.json and config.json give a tokenizer or model, or a PrlError naming the file.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadModelFolder } from '../../src/engine/checkpoint.js';
import { loadTokenizer } from '../../src/engine/tokenizer.js';
import { runPrl } from '../cli/run-cli.js';
import { makeTinyModelFolder } from '../helpers/model-folder.js';
import { expectValueOrPlaceError, fuzzRuns, jsonText, mutatedJson, toJsonText } from './harness.js';

const dir = makeTinyModelFolder(3, 'prl-fuzz-tok-');
after(() => rmSync(dirname(dir), { recursive: true, force: true }));
const tokenizerPath = join(dir, 'tokenizer.json');
const tokenizerConfigPath = join(dir, 'tokenizer_config.json');
const configPath = join(dir, 'config.json');
const original = {
  tokenizer: JSON.parse(readFileSync(tokenizerPath, 'utf8')) as unknown,
  tokenizerConfig: JSON.parse(readFileSync(tokenizerConfigPath, 'utf8')) as unknown,
  config: JSON.parse(readFileSync(configPath, 'utf8')) as unknown,
};

/** A small BPE tokenizer.json, which loads through @huggingface/tokenizers rather than as a CharTokenizer. */
const bpe = {
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens: [{ id: 4, content: '<eos>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
  normalizer: null,
  pre_tokenizer: null,
  post_processor: null,
  decoder: null,
  model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab: { a: 0, b: 1, ab: 2, c: 3, '<eos>': 4 }, merges: ['a b'] },
};

/** Writes the folder's files (the original where not given) and loads the tokenizer, then the whole folder. */
function load(files: { tokenizer?: string; tokenizerConfig?: string; config?: string }): void {
  writeFileSync(tokenizerPath, files.tokenizer ?? toJsonText(original.tokenizer));
  writeFileSync(tokenizerConfigPath, files.tokenizerConfig ?? toJsonText(original.tokenizerConfig));
  writeFileSync(configPath, files.config ?? toJsonText(original.config));
  loadTokenizer(dir);
  loadModelFolder(dir).close();
}

test('tokenizer.json: a character-level tokenizer with wrong types, huge ids, deep nesting', () => {
  fc.assert(fc.property(jsonText(original.tokenizer), (text) => expectValueOrPlaceError(tokenizerPath, () => load({ tokenizer: text }))), fuzzRuns(150));
});

test('tokenizer.json: added_tokens entries of any shape', () => {
  const entry = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.record({ id: fc.jsonValue({ maxDepth: 1 }), content: fc.jsonValue({ maxDepth: 1 }) }));
  fc.assert(
    fc.property(fc.array(entry, { maxLength: 4 }), (addedTokens) => {
      const doc = { ...(original.tokenizer as object), added_tokens: [...((original.tokenizer as { added_tokens: unknown[] }).added_tokens), ...addedTokens] };
      expectValueOrPlaceError(tokenizerPath, () => load({ tokenizer: toJsonText(doc) }));
    }),
    fuzzRuns(60),
  );
});

test('tokenizer.json: a BPE tokenizer with wrong types, huge ids, deep nesting', () => {
  fc.assert(
    fc.property(mutatedJson(bpe), (doc) =>
      expectValueOrPlaceError(tokenizerPath, () => {
        writeFileSync(tokenizerPath, toJsonText(doc));
        writeFileSync(tokenizerConfigPath, JSON.stringify({ eos_token: '<eos>' }));
        loadTokenizer(dir);
      }),
    ),
    fuzzRuns(200),
  );
});

test('tokenizer_config.json: special tokens and chat template of the wrong type', () => {
  fc.assert(fc.property(jsonText(original.tokenizerConfig), (text) => expectValueOrPlaceError('tokenizer_config.json', () => load({ tokenizerConfig: text }))), fuzzRuns(100));
});

test('config.json: wrong types, huge sizes and layer counts', () => {
  fc.assert(fc.property(jsonText(original.config), (text) => expectValueOrPlaceError(dir, () => load({ config: text }))), fuzzRuns(150));
});

test('config.json: num_hidden_layers 2^31 is refused before listing 2^31 layers of tensor names', () => {
  const config = { ...(original.config as object), num_hidden_layers: 2 ** 31 };
  expectValueOrPlaceError(configPath, () => load({ config: JSON.stringify(config) }));
});

test('prl eval names a tokenizer_config.json that is not an object', () => {
  writeFileSync(tokenizerConfigPath, 'null');
  const data = join(dirname(dir), 'problems.jsonl');
  writeFileSync(data, JSON.stringify({ problem: '1+1', answer: '2' }) + '\n');
  const result = runPrl(['eval', '--policy', `engine:${dir}`, '--data', data, '--out', join(dirname(dir), 'out.jsonl'), '--n', '1']);
  assert.equal(result.status, 1);
  assert.equal(result.stderr, `prl: ${tokenizerConfigPath}: not a JSON object\n`);
});

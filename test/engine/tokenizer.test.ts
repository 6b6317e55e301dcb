import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CharTokenizer, HfTokenizer, loadTokenizer, prefixDecodeOffsets, tokenizerConfigJson } from '../../src/engine/tokenizer.js';
import { Rng } from '../../src/util/rng.js';

/** GPT-2's bytes_to_unicode, written out here so the test does not share the code under test. */
function byteToChar(b: number): string {
  const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  if (printable) return String.fromCharCode(b);
  let n = 0;
  for (let x = 0; x < b; x++) if (!((x >= 0x21 && x <= 0x7e) || (x >= 0xa1 && x <= 0xac) || (x >= 0xae && x <= 0xff))) n++;
  return String.fromCharCode(256 + n);
}

const bl = (text: string): string => [...Buffer.from(text, 'utf8')].map(byteToChar).join('');

/**
 * A tiny byte-level BPE tokenizer.json: the 256 byte tokens plus merges that build "\n\nTh" (a token
 * that merges a step break with text), "é", and the two halves of the 4-byte "😀".
 */
function tinyBpeJson(): object {
  const vocab: Record<string, number> = {};
  for (let b = 0; b < 256; b++) vocab[byteToChar(b)] = b;
  const emoji = [...Buffer.from('😀', 'utf8')].map(byteToChar);
  const merges = [
    [bl('\n'), bl('\n')],
    [bl('T'), bl('h')],
    [bl('\n\n'), bl('Th')],
    [byteToChar(0xc3), byteToChar(0xa9)], // é
    [emoji[0], emoji[1]],
    [emoji[2], emoji[3]],
  ];
  for (const [a, b] of merges) vocab[a + b] = Object.keys(vocab).length;
  vocab['<|endoftext|>'] = Object.keys(vocab).length;
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [{ id: vocab['<|endoftext|>'], content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: null,
    decoder: byteLevel,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab, merges: merges.map(([a, b]) => `${a} ${b}`) },
  };
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'prl-tok-'));
}

test('CharTokenizer: one token per character, special tokens recognised, offsets in UTF-16 units', () => {
  const tok = new CharTokenizer({ alphabet: ['a', 'b', '\n', '😀'], specialTokens: ['<pad>', '<eos>'], eos: '<eos>', pad: '<pad>' });
  assert.equal(tok.vocabSize, 6);
  assert.equal(tok.eosId, 1);
  const { ids, offsets } = tok.encode('ab\n😀a<eos>');
  assert.deepEqual(ids, [2, 3, 4, 5, 2, 1]);
  assert.deepEqual(offsets, [0, 1, 2, 3, 5, 6]);
  assert.equal(tok.decode(ids), 'ab\n😀a<eos>');
  assert.equal(tok.tokenText(5), '😀');
  assert.throws(() => tok.encode('abc'), /character "c" at offset 2 is not in the vocabulary/);
  assert.throws(() => tok.tokenText(6), /token id 6 is outside the vocabulary/);
  const withUnk = new CharTokenizer({ alphabet: 'ab', specialTokens: ['<unk>'], unk: '<unk>' });
  assert.deepEqual(withUnk.encode('axb').ids, [1, 0, 2]);
});

test('CharTokenizer saves a genuine tokenizer.json: it loads back, and @huggingface/tokenizers reads it the same way', () => {
  const dir = tempDir();
  try {
    const tok = new CharTokenizer({ alphabet: '0123456789+= \n', specialTokens: ['<pad>', '<eos>', '<bos>'], eos: '<eos>', bos: '<bos>', pad: '<pad>', chatTemplate: '{{ messages }}' });
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tok.toJSON()));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfigJson(tok)));
    const loaded = loadTokenizer(dir);
    assert.ok(loaded instanceof CharTokenizer);
    assert.equal(loaded.vocabSize, tok.vocabSize);
    assert.deepEqual([loaded.eosId, loaded.bosId, loaded.chatTemplate], [1, 2, '{{ messages }}']);
    const text = '12+30=42\n\n7 = 7<eos>';
    assert.deepEqual(loaded.encode(text), tok.encode(text));

    const viaLibrary = new HfTokenizer(tok.toJSON(), tokenizerConfigJson(tok), 'tokenizer.json');
    assert.deepEqual(viaLibrary.encode(text).ids, tok.encode(text).ids);
    assert.equal(viaLibrary.decode(tok.encode(text).ids), text);
    assert.equal(viaLibrary.eosId, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('HfTokenizer on a byte-level BPE: merged "\\n\\n" tokens, split characters and special tokens get the right offsets', () => {
  const json = tinyBpeJson() as { model: { vocab: Record<string, number> } };
  const tok = new HfTokenizer(json, { eos_token: '<|endoftext|>' }, 'tokenizer.json');
  assert.equal(tok.vocabSize, 263);
  assert.equal(tok.eosId, 262);

  const text = 'Hi\n\nThe é😀<|endoftext|>';
  const { ids, offsets } = tok.encode(text);
  // Hand-applied merges: "\n\n" + "Th" -> one token; "é" one token; "😀" two tokens of two bytes each.
  const emoji = [...Buffer.from('😀', 'utf8')].map(byteToChar);
  const pieces = ['H', 'i', bl('\n\nTh'), 'e', bl(' '), bl('é'), emoji[0] + emoji[1], emoji[2] + emoji[3]];
  assert.deepEqual(ids, [...pieces.map((p) => json.model.vocab[p]), 262]);
  assert.equal(tok.tokenText(ids[2]), '\n\nTh');
  assert.deepEqual(offsets, [0, 1, 2, 6, 7, 8, 9, 9, 11]);
  assert.equal(tok.decode(ids), text);
  // The general method (decode every prefix) agrees with the byte-level fast path.
  assert.deepEqual(prefixDecodeOffsets(text, ids, (p) => tok.decode(p)), offsets);
});

test('HfTokenizer offsets: the fast path and the prefix-decode method agree on random text', () => {
  const tok = new HfTokenizer(tinyBpeJson(), {}, 'tokenizer.json');
  const pieces = ['\n', '\n\n', 'T', 'h', 'e', ' ', 'é', '😀', 'x', '<|endoftext|>'];
  const rng = new Rng(5);
  for (let trial = 0; trial < 20; trial++) {
    let text = '';
    for (let i = 0; i < 30; i++) text += pieces[rng.nextU32() % pieces.length];
    const { ids, offsets } = tok.encode(text);
    assert.equal(tok.decode(ids), text);
    assert.deepEqual(offsets, prefixDecodeOffsets(text, ids, (p) => tok.decode(p)), JSON.stringify(text));
    // Every step break "\n\n" starts inside the token whose offset range covers it.
    for (let at = text.indexOf('\n\n'); at >= 0; at = text.indexOf('\n\n', at + 1)) {
      const k = offsets.findLastIndex((o) => o <= at);
      assert.ok(tok.decode(ids.slice(k)).startsWith(text.slice(offsets[k])), JSON.stringify(text));
    }
  }
});

test('loadTokenizer picks HfTokenizer for a BPE tokenizer.json and reads eos/bos from tokenizer_config.json', () => {
  const dir = tempDir();
  try {
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tinyBpeJson()));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ eos_token: { content: '<|endoftext|>' }, chat_template: 'T' }));
    const tok = loadTokenizer(dir);
    assert.ok(tok instanceof HfTokenizer);
    assert.deepEqual([tok.eosId, tok.bosId, tok.chatTemplate], [262, undefined, 'T']);
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ eos_token: '</s>' }));
    assert.throws(() => loadTokenizer(dir), /tokenizer\.json: tokenizer_config\.json eos_token "<\/s>" is not in the vocabulary/);
    writeFileSync(join(dir, 'tokenizer.json'), '{');
    assert.throws(() => loadTokenizer(dir), /tokenizer\.json: not valid JSON/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

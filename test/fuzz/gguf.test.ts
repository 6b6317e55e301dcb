/** GGUF reader under arbitrary and mutated bytes: a header or tensor values, or a PrlError naming the file. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readGgufHeader, readGgufTensorF32, writeGguf, type GgufValue } from '../../src/engine/gguf.js';
import { PrlError } from '../../src/util/errors.js';
import { arbitraryBytes, fuzzRuns, expectValueOrPlaceError, mutatedBytes } from './harness.js';

const SOURCE = 'fuzzed.gguf';

const valid = writeGguf(
  new Map<string, GgufValue>([
    ['general.architecture', { type: 'string', value: 'llama' }],
    ['general.alignment', { type: 'uint32', value: 32 }],
    ['llama.block_count', { type: 'uint32', value: 2 }],
    ['tokenizer.ggml.tokens', { type: 'array', itemType: 'string', value: ['<s>', 'a', 'b'] }],
    ['tokenizer.ggml.scores', { type: 'array', itemType: 'float32', value: [0, -1, -2] }],
    ['general.file_type', { type: 'uint64', value: 0n }],
  ]),
  [
    { name: 'token_embd.weight', shape: [3, 4], data: Float32Array.from({ length: 12 }, (_, i) => i / 12) },
    { name: 'output_norm.weight', shape: [4], data: new Float32Array(4).fill(1) },
  ],
);

function readAll(bytes: Uint8Array): void {
  const header = readGgufHeader(bytes, SOURCE);
  for (const t of header.tensors) {
    try {
      readGgufTensorF32(bytes, header, t.name, SOURCE);
    } catch (err) {
      // A tensor of another ggml type is refused by name; that is a PrlError like the rest.
      if (!(err instanceof Error && /not F32/.test(err.message))) throw err;
    }
  }
}

test('GGUF: arbitrary bytes give a header or an error naming the file', () => {
  fc.assert(fc.property(arbitraryBytes, (bytes) => expectValueOrPlaceError(SOURCE, () => readAll(bytes))), fuzzRuns(300));
});

test('GGUF: flipped, truncated, extended bytes and huge length fields of a real file', () => {
  fc.assert(fc.property(mutatedBytes(valid), (bytes) => expectValueOrPlaceError(SOURCE, () => readAll(bytes))), fuzzRuns(1000));
});

test('GGUF: an array that claims 2^40 items is refused before allocating', () => {
  const bytes = writeGguf(new Map<string, GgufValue>([['big', { type: 'array', itemType: 'uint8', value: [1, 2] }]]), []);
  // The length of `big` follows its key (u64 length + 3 bytes), the value type and the item type.
  const at = 4 + 4 + 8 + 8 + 8 + 3 + 4 + 4;
  new DataView(bytes.buffer).setBigUint64(at, 2n ** 40n, true);
  expectValueOrPlaceError(SOURCE, () => readGgufHeader(bytes, SOURCE));
});

test('GGUF: an alignment of 0 is refused rather than giving a NaN data offset', () => {
  const bytes = writeGguf(new Map<string, GgufValue>([['general.alignment', { type: 'uint32', value: 32 }]]), []);
  // The u32 value follows the two counts, the key (u64 length + bytes) and the value type.
  const at = 4 + 4 + 8 + 8 + 8 + 'general.alignment'.length + 4;
  new DataView(bytes.buffer).setUint32(at, 0, true);
  assert.throws(() => readGgufHeader(bytes, SOURCE), (err: Error) => err instanceof PrlError && err.message === `${SOURCE}: general.alignment 0 is not a power of two`);
});

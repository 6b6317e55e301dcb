/** safetensors headers under arbitrary and mutated bytes: tensors, or a PrlError naming the file. */
import { after, test } from 'node:test';
import fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SafetensorsFile, ShardedSafetensors, isReadableDtype, numElements, writeSafetensors } from '../../src/engine/safetensors.js';
import { arbitraryBytes, expectValueOrPlaceError, fuzzRuns, jsonText, mutatedBytes, mutatedJson, toJsonText } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'prl-fuzz-st-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const path = join(dir, 'fuzzed.safetensors');

writeSafetensors(
  path,
  [
    { name: 'embed.weight', shape: [3, 4], data: Float32Array.from({ length: 12 }, (_, i) => i) },
    { name: 'norm.weight', shape: [4], data: new Float32Array(4).fill(1) },
    { name: 'scalar', shape: [], data: Float32Array.of(7) },
  ],
  { format: 'pt' },
);
const valid = new Uint8Array(readFileSync(path));
const headerLength = Number(new DataView(valid.buffer).getBigUint64(0, true));
const validHeader = JSON.parse(Buffer.from(valid.subarray(8, 8 + headerLength)).toString('utf8')) as unknown;
const data = valid.subarray(8 + headerLength);

/** Opens the file and reads every readable tensor, as loading a checkpoint does. */
function openAndRead(bytes: Uint8Array): void {
  writeFileSync(path, bytes);
  const file = new SafetensorsFile(path);
  try {
    for (const name of file.names()) {
      const e = file.entry(name)!;
      if (isReadableDtype(e.dtype)) file.read(name, new Float32Array(numElements(e.shape)));
    }
  } finally {
    file.close();
  }
}

/** A file with `headerText` as its header and the valid file's data section. */
function withHeader(headerText: string): Uint8Array {
  const header = Buffer.from(headerText, 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(header.length));
  return Buffer.concat([length, header, data]);
}

test('safetensors: arbitrary bytes give tensors or an error naming the file', () => {
  fc.assert(fc.property(arbitraryBytes, (bytes) => expectValueOrPlaceError(path, () => openAndRead(bytes))), fuzzRuns(200));
});

test('safetensors: flipped, truncated, extended bytes and a header length of 2^60 in a real file', () => {
  fc.assert(fc.property(mutatedBytes(valid), (bytes) => expectValueOrPlaceError(path, () => openAndRead(bytes))), fuzzRuns(400));
});

test('safetensors: headers with wrong types, huge numbers and deep nesting', () => {
  fc.assert(fc.property(jsonText(validHeader), (text) => expectValueOrPlaceError(path, () => openAndRead(withHeader(text)))), fuzzRuns(400));
});

test('safetensors: a sharded index with wrong types names the index or the shard file', () => {
  const index = join(dir, 'model.safetensors.index.json');
  const validIndex = { metadata: { total_size: 64 }, weight_map: { 'embed.weight': 'fuzzed.safetensors', 'norm.weight': 'fuzzed.safetensors' } };
  writeFileSync(path, valid);
  fc.assert(
    fc.property(mutatedJson(validIndex), (doc) => {
      writeFileSync(index, toJsonText(doc));
      expectValueOrPlaceError(dir, () => {
        const sharded = new ShardedSafetensors(index);
        try {
          for (const name of sharded.names()) {
            const e = sharded.entry(name);
            if (e !== undefined && isReadableDtype(e.dtype)) sharded.read(name, new Float32Array(numElements(e.shape)));
          }
        } finally {
          sharded.close();
        }
      });
    }),
    fuzzRuns(200),
  );
});

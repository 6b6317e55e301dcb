import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Arena } from '../../src/engine/memory.js';
import { SafetensorsFile, halfToFloat, openSafetensorsFolder, writeSafetensors } from '../../src/engine/safetensors.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'prl-st-'));
}

/** A safetensors file from a header object and raw data bytes, written by hand (independent of the writer). */
function rawSafetensors(header: unknown, data: Uint8Array, headerText?: string): Buffer {
  const json = Buffer.from(headerText ?? JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([length, json, data]);
}

test('writeSafetensors round-trips float32 tensors into arena memory, with metadata and 8-byte aligned data', () => {
  const dir = tempDir();
  try {
    const a = { name: 'a', shape: [2, 3], data: Float32Array.from([1, -2.5, 3e-8, 4, 5, -6]) };
    const b = { name: 'b.bias', shape: [4], data: Float32Array.from([0.1, 0.2, 0.3, Math.PI]) };
    const path = join(dir, 'x.safetensors');
    writeSafetensors(path, [a, b], { format: 'pt' });

    const bytes = readFileSync(path);
    const headerLength = Number(bytes.readBigUInt64LE(0));
    assert.equal(headerLength % 8, 0);
    const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
    assert.deepEqual(header.a, { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] });
    assert.deepEqual(header['b.bias'], { dtype: 'F32', shape: [4], data_offsets: [24, 40] });
    assert.equal(bytes.length, 8 + headerLength + 40);

    const arena = new Arena(1024);
    const file = new SafetensorsFile(path);
    assert.deepEqual(file.metadata, { format: 'pt' });
    assert.deepEqual(file.names().sort(), ['a', 'b.bias']);
    const destA = arena.allocF32(6);
    const destB = arena.allocF32(4);
    file.read('a', destA);
    file.read('b.bias', destB);
    file.close();
    assert.deepEqual([...destA], [...a.data]);
    assert.deepEqual([...destB], [...b.data]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('halfToFloat decodes hand-checked IEEE binary16 values', () => {
  assert.equal(halfToFloat(0x3c00), 1);
  assert.equal(halfToFloat(0xc000), -2);
  assert.equal(halfToFloat(0x3555), 0.333251953125);
  assert.equal(halfToFloat(0x7bff), 65504);
  assert.equal(halfToFloat(0x0001), 2 ** -24); // smallest subnormal
  assert.equal(halfToFloat(0x0400), 2 ** -14); // smallest normal
  assert.ok(Object.is(halfToFloat(0x8000), -0));
  assert.equal(halfToFloat(0x7c00), Infinity);
  assert.ok(Number.isNaN(halfToFloat(0x7e00)));
});

test('F16 and BF16 tensors are converted to float32', () => {
  const dir = tempDir();
  try {
    const f16 = Uint16Array.from([0x3c00, 0xc000, 0x3555, 0x0001]);
    // bfloat16 is the top half of a float32: 1.0 = 0x3f80, -2.0 = 0xc000, 0.15625 = 0x3e20.
    const bf16 = Uint16Array.from([0x3f80, 0xc000, 0x3e20]);
    const data = new Uint8Array([...new Uint8Array(f16.buffer), ...new Uint8Array(bf16.buffer)]);
    const path = join(dir, 'half.safetensors');
    writeFileSync(
      path,
      rawSafetensors({ h: { dtype: 'F16', shape: [2, 2], data_offsets: [0, 8] }, bh: { dtype: 'BF16', shape: [3], data_offsets: [8, 14] } }, data),
    );
    const file = new SafetensorsFile(path);
    const h = new Float32Array(4);
    const bh = new Float32Array(3);
    file.read('h', h);
    file.read('bh', bh);
    file.close();
    assert.deepEqual([...h], [1, -2, 0.333251953125, 2 ** -24]);
    assert.deepEqual([...bh], [1, -2, 0.15625]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a sharded folder reads each tensor from the shard its index names', () => {
  const dir = tempDir();
  try {
    writeSafetensors(join(dir, 's1.safetensors'), [{ name: 'x', shape: [2], data: Float32Array.from([1, 2]) }]);
    writeSafetensors(join(dir, 's2.safetensors'), [{ name: 'y', shape: [1], data: Float32Array.from([7]) }]);
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { x: 's1.safetensors', y: 's2.safetensors' } }));
    const source = openSafetensorsFolder(dir);
    const y = new Float32Array(1);
    source.read('y', y);
    assert.equal(y[0], 7);
    assert.equal(source.entry('x')?.path, join(dir, 's1.safetensors'));
    source.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('malformed files are errors naming the file and the tensor', () => {
  const dir = tempDir();
  try {
    const good = rawSafetensors({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, new Uint8Array(8));
    const cases: Array<[string, Buffer, RegExp]> = [
      ['tiny', Buffer.from([1, 2, 3]), /tiny\.safetensors: truncated: 3 bytes/],
      ['beyond', (() => { const b = Buffer.from(good); b.writeBigUInt64LE(10_000n, 0); return b; })(), /beyond\.safetensors: header length 10000 is beyond the file size/],
      ['badjson', rawSafetensors(null, new Uint8Array(0), '{"w": {'), /badjson\.safetensors: header is not valid JSON/],
      ['truncated', good.subarray(0, good.length - 3), /truncated\.safetensors: tensor w: data_offsets \[0,8\] are out of range \(the data section has 5 bytes/],
      ['mismatch', rawSafetensors({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)), /mismatch\.safetensors: tensor w: data_offsets \[0,8\] span 8 bytes, but F32 shape \[3\] needs 12/],
      ['noshape', rawSafetensors({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 8] } }, new Uint8Array(8)), /noshape\.safetensors: tensor w: shape must be/],
    ];
    for (const [name, bytes, message] of cases) {
      const path = join(dir, `${name}.safetensors`);
      writeFileSync(path, bytes);
      assert.throws(() => new SafetensorsFile(path), message, name);
    }

    const intPath = join(dir, 'int.safetensors');
    writeFileSync(intPath, rawSafetensors({ ids: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8)));
    const file = new SafetensorsFile(intPath);
    assert.throws(() => file.read('ids', new Float32Array(1)), /int\.safetensors: tensor ids: unsupported dtype I64/);
    assert.throws(() => file.read('nope', new Float32Array(1)), /int\.safetensors: no tensor nope/);
    file.close();
    assert.throws(() => new SafetensorsFile(join(dir, 'missing.safetensors')), /missing\.safetensors: no such file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

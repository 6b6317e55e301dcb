import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Arena } from '../../src/engine/memory.js';

test('allocations past the initial memory grow it; earlier views stay valid and aligned', () => {
  const arena = new Arena(0);
  const first = arena.allocF32(10);
  first[9] = 3;
  const initialBytes = arena.memory.buffer.byteLength;
  const big = arena.allocF32(initialBytes / 4 + 1000); // larger than the whole initial memory
  big[big.length - 1] = 7;
  assert.ok(arena.memory.buffer.byteLength > initialBytes);
  assert.equal(big.byteOffset % 64, 0);
  assert.equal(first[9], 3);
  const mark = arena.mark();
  arena.allocI32(5);
  arena.release(mark);
  assert.equal(arena.usedBytes, mark);
});

test('allocations are zeros: fresh memory as grown, released scratch cleared, a region of a used memory cleared', () => {
  const arena = new Arena(0);
  const mark = arena.mark();
  arena.allocF32(1000).fill(5);
  arena.release(mark);
  const again = arena.allocF32(2000); // half over the released values, half fresh
  assert.ok(again.every((x) => x === 0));
  again.fill(7);
  const region = new Arena(mark, arena.memory); // e.g. a server's adapter slot over used memory
  assert.ok(region.allocI32(1500).every((x) => x === 0));
  assert.ok(region.segment(0).allocU16(10).every((x) => x === 0));
  assert.throws(() => region.segment(1), /a region of one memory and cannot open segments/);
});

test('every allocation kind that grows the memory returns a view of the grown memory', () => {
  for (const kind of ['allocF32', 'allocI32', 'allocU16'] as const) {
    const arena = new Arena(0);
    const bytes = arena.memory.buffer.byteLength;
    const elements = kind === 'allocU16' ? bytes / 2 + 64 : bytes / 4 + 64; // past the current memory
    const view = arena.segment(0)[kind](elements);
    assert.equal(view.length, elements, kind);
    view[elements - 1] = 1;
    assert.equal(view[elements - 1], 1, kind);
  }
});

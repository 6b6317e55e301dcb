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

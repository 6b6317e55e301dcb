import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/util/rng.js';

test('same seed gives the same stream; a restored state continues it exactly', () => {
  const a = new Rng(42);
  const b = new Rng(42);
  for (let i = 0; i < 5; i++) a.next();
  for (let i = 0; i < 5; i++) b.next();
  const saved = a.state();
  const expected = Array.from({ length: 10 }, () => a.next());
  const restored = Rng.fromState(saved);
  assert.deepEqual(Array.from({ length: 10 }, () => restored.next()), expected);
  assert.deepEqual(Array.from({ length: 10 }, () => b.next()), expected);
});

test('uniform draws have mean 1/2 and variance 1/12; normals have mean 0 and variance 1', () => {
  const rng = new Rng(7);
  const n = 200_000;
  let s = 0, s2 = 0, z = 0, z2 = 0;
  for (let i = 0; i < n; i++) {
    const u = rng.next();
    assert.ok(u >= 0 && u < 1);
    s += u; s2 += u * u;
    const g = rng.normal();
    z += g; z2 += g * g;
  }
  assert.ok(Math.abs(s / n - 0.5) < 0.005);
  assert.ok(Math.abs(s2 / n - (s / n) ** 2 - 1 / 12) < 0.002);
  assert.ok(Math.abs(z / n) < 0.01);
  assert.ok(Math.abs(z2 / n - 1) < 0.02);
});

test('int(n) covers 0..n-1 evenly', () => {
  const rng = new Rng(3);
  const counts = new Array(5).fill(0);
  for (let i = 0; i < 50_000; i++) counts[rng.int(5)]++;
  for (const c of counts) assert.ok(Math.abs(c / 50_000 - 0.2) < 0.01);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { warmStartConfig } from '../../src/train/warm-start.js';

test("warmStartConfig: the recipe's task options override the task's, field by field; without them the task's stand", () => {
  const taskOptions = { operations: 2, trainSize: 1800, evalSize: 300 };
  assert.deepEqual(warmStartConfig('arith', taskOptions, { steps: 10 }).taskOptions, taskOptions);
  const trunk = warmStartConfig('arith', taskOptions, { steps: 10, taskOptions: { errorRate: 0, corpus: 'fresh' } });
  assert.deepEqual(trunk.taskOptions, { operations: 2, trainSize: 1800, evalSize: 300, errorRate: 0, corpus: 'fresh' });
  assert.equal(trunk.steps, 10);
  // The planted recipe is the paper's SFT unless the recipe says otherwise.
  assert.equal(warmStartConfig('planted', {}).steps, 50);
  assert.equal(warmStartConfig('planted', {}, { steps: 10 }).steps, 10);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildExampleReport } from '../../src/report/example.js';

test('the example report is deterministic, marked as an example, and its headline matches its numbers', async () => {
  const a = await buildExampleReport();
  const b = await buildExampleReport();
  assert.equal(a.html, b.html);
  assert.deepEqual(a.results, b.results);
  assert.equal(a.results.example, true);
  assert.match(a.results.headline, /^EXAMPLE \(synthetic numbers\)/);
  assert.match(a.html, /<p class="example-banner"><strong>Example report\.<\/strong>/);
  assert.equal((a.html.match(/<svg /g) ?? []).length, 3);
  const finals = a.results.rlCurves.map((c) => c.points[c.points.length - 1].mean);
  assert.ok(a.results.headline.includes(`${finals[0]} test accuracy vs ${finals[1]}`));
  for (const c of a.results.rlCurves) for (const p of c.points) assert.ok(p.lo <= p.mean && p.mean <= p.hi);
});

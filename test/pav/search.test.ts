// PAV search on planted with the exact prover: compute accounting, nested best-of-N, and beam search
// guided by the prover's progress beats the unguided policy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PRESETS } from '../../src/engine/config.js';
import { FallbackKernels } from '../../src/engine/kernels/fallback.js';
import { Arena } from '../../src/engine/memory.js';
import { LlamaModel } from '../../src/engine/model.js';
import { beamSearch, oracleScorer, sampleSearch } from '../../src/pav/search.js';
import { getTask } from '../../src/tasks/index.js';
import { createCodec, taskTokenizer } from '../../src/tasks/codec.js';
import { Rng } from '../../src/util/rng.js';

const task = getTask('planted');
const codec = createCodec(task, taskTokenizer(task));
const model = new LlamaModel({ ...PRESETS.tiny, vocabSize: codec.tokenizer.vocabSize }, new Arena(0), new FallbackKernels());
model.initRandom(new Rng(1));
const problem = codec.problems('eval')[0];
const scorer = oracleScorer(codec, 10);

test('best-of-N: nested N, tokens counted per sample, the ORM pick is the best-scored sample', () => {
  const points = sampleSearch(model, codec, scorer, [problem], [2, 4, 8], { temperature: 1, maxNewTokens: codec.maxNewTokens, rng: new Rng(2) });
  const bon = points.filter((p) => p.method === 'bon');
  assert.deepEqual(bon.map((p) => p.n), [2, 4, 8]);
  for (let i = 1; i < bon.length; i++) assert.ok(bon[i].tokens_per_problem > bon[i - 1].tokens_per_problem);
  assert.deepEqual(points.map((p) => p.method).sort(), ['bon', 'bon', 'bon', 'maj', 'maj', 'maj', 'wmaj', 'wmaj', 'wmaj']);
});

test('planted: beam search with the exact prover (B = 4, C = 12) finds the target far more often than a policy sample', () => {
  let found = 0;
  let tokens = 0;
  const rng = new Rng(3);
  const runs = 10;
  for (let r = 0; r < runs; r++) {
    const result = beamSearch(model, codec, scorer, problem, 4, { temperature: 1, maxNewTokens: codec.maxNewTokens, rng, children: 12, alpha: 1 });
    found += codec.read(problem, result.response).reward;
    tokens += result.tokens;
    // Planted steps are one token: every expansion samples one token, and steps count expansions.
    assert.equal(result.tokens, result.steps);
  }
  // A random tiny policy almost never writes [3, 6, 0, 3, 5] (p ~ 1e-5); progress under mu(10) guides each token.
  assert.ok(found >= 5, `found the target in ${found}/${runs} searches (${tokens} tokens)`);
});

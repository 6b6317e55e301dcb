/**
 * The JSONL inputs under mutation: rollouts (`prl advantages`), samples (`prl metrics`), math task
 * and eval problems, an eval run's resumable results, PAV labels. Each gives its value or a
 * PrlError naming the file.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultCharTokenizer } from '../../src/engine/io.js';
import { parseLabelRecords } from '../../src/pav/labels.js';
import { examplesFromLabels } from '../../src/pav/verifier.js';
import { benchmarkMetrics, readFinished, readProblems } from '../../src/eval/evaluate.js';
import { evaluateSamples, parseSamples } from '../../src/eval/sample-io.js';
import { DEFAULT_MATH, loadMathProblems } from '../../src/tasks/math.js';
import { DEFAULT_ADVANTAGE_OPTIONS, rolloutAdvantages, type AdvantageOptions } from '../../src/algos/index.js';
import { parseRollouts } from '../../src/train/rollout-io.js';
import { gradeFile } from '../../src/cli/commands/grade.js';
import { sequencesOf } from '../../src/cli/commands/logprobs.js';
import { parseJsonl } from '../../src/util/fs.js';
import { runPrl } from '../cli/run-cli.js';
import { makeTinyModelFolder } from '../helpers/model-folder.js';
import { expectValueOrPlaceError, fuzzRuns, jsonText, mutatedJson, toJsonText } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'prl-fuzz-jsonl-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** JSONL text of up to five lines, each a mutation of `validLine`, or any JSON, or not JSON at all. */
function jsonlText(validLine: unknown): fc.Arbitrary<string> {
  const line = fc.oneof({ arbitrary: mutatedJson(validLine).map(toJsonText), weight: 3 }, { arbitrary: jsonText(validLine), weight: 1 }, { arbitrary: fc.constant(JSON.stringify(validLine)), weight: 1 });
  return fc.array(line, { maxLength: 5 }).map((lines) => lines.join('\n'));
}

const rollout = { group: 'g1', reward: 1, mask: [1, 1, 0], logprobs_old: [-1, -2, -0.5], logprobs_ref: [-1.1, -1.9, -0.4], text: 'ab\n\ncd', token_offsets: [0, 2, 4], token_ids: [5, 6, 7] };
const estimators: AdvantageOptions[] = [
  DEFAULT_ADVANTAGE_OPTIONS,
  { ...DEFAULT_ADVANTAGE_OPTIONS, estimator: 'rloo' },
  { ...DEFAULT_ADVANTAGE_OPTIONS, estimator: 'prl', stepSplit: { kind: 'text', delimiter: '\n\n' } },
  { ...DEFAULT_ADVANTAGE_OPTIONS, estimator: 'prl', stepSplit: { kind: 'tokens', ids: [6] } },
  { ...DEFAULT_ADVANTAGE_OPTIONS, estimator: 'prl-raw' },
  { ...DEFAULT_ADVANTAGE_OPTIONS, estimator: 'frpo', kl: 'k3' },
];

test('rollout JSONL: every estimator gives advantages or an error naming the file', () => {
  fc.assert(
    fc.property(jsonlText(rollout), fc.constantFrom(...estimators), (text, options) =>
      expectValueOrPlaceError('rollouts.jsonl', () => rolloutAdvantages(parseRollouts(parseJsonl(text, 'rollouts.jsonl'), 'rollouts.jsonl', options), options)),
    ),
    fuzzRuns(400),
  );
});

test('sample JSONL: metrics or an error naming the file', () => {
  const sample = { id: 'p1', correct: [true, false, true, true], answers: ['1', null, '1', '2'] };
  fc.assert(
    fc.property(jsonlText(sample), (text) => expectValueOrPlaceError('samples.jsonl', () => evaluateSamples(parseSamples(parseJsonl(text, 'samples.jsonl'), 'samples.jsonl'), 0, 20))),
    fuzzRuns(300),
  );
});

test('math task and eval problem JSONL: problems or an error naming the file', () => {
  const problem = { problem: 'What is 1+1?', answer: ['2', '\\boxed{2}'], unique_id: 'test/1', id: 7 };
  const path = join(dir, 'problems.jsonl');
  fc.assert(
    fc.property(jsonlText(problem), (text) => {
      writeFileSync(path, text);
      expectValueOrPlaceError(path, () => loadMathProblems(path, DEFAULT_MATH));
      expectValueOrPlaceError(path, () => readProblems(path, 'problem', 'answer'));
    }),
    fuzzRuns(300),
  );
});

test('graded responses JSONL (prl grade): a summary and graded lines, or an error naming the file', () => {
  const response = { response: 'So the answer is \\boxed{\\frac{1}{2}}.', answer: '0.5', extra: { note: 'kept in the output' } };
  const path = join(dir, 'responses.jsonl');
  fc.assert(
    fc.property(jsonlText(response), (text) => {
      writeFileSync(path, text);
      expectValueOrPlaceError(path, () => gradeFile(path, { responseField: 'response', answerField: 'answer', output: join(dir, 'graded.jsonl') }));
    }),
    fuzzRuns(150),
  );
});

test('logprobs input JSONL (prl logprobs): token ids or an error naming the file', () => {
  const tokenizer = defaultCharTokenizer();
  fc.assert(
    fc.property(jsonlText({ tokens: [1, 20, 21] }), jsonlText({ text: 'Q: 1+1' }), (tokens, texts) => {
      for (const text of [tokens, texts]) expectValueOrPlaceError('input.jsonl', () => sequencesOf(parseJsonl(text, 'input.jsonl'), 'input.jsonl', tokenizer, tokenizer.vocabSize, 64));
    }),
    fuzzRuns(200),
  );
});

test('eval results JSONL (the resumable --out file): finished problems or an error naming the file', () => {
  const result = { benchmark: 'b', id: '1', answer: '2', responses: ['2', '3'], answers: ['2', '3'], correct: [true, false], finishReasons: ['stop', 'length'] };
  const path = join(dir, 'results.jsonl');
  fc.assert(
    fc.property(jsonlText(result), (text) => {
      writeFileSync(path, text + '\n');
      expectValueOrPlaceError(path, () => benchmarkMetrics([...readFinished(path, 2).values()], undefined));
    }),
    fuzzRuns(200),
  );
});

const label = {
  problem: 'p1', prompt: '1+2=', source: 'seed', response_ids: [20, 21, 22], step_ends: [1, 2], steps: ['3', '\n'], reward: 1,
  rollouts: [2, 0], successes: [1, 1], q_mc: [0.5, 1], q: [0.5, 1], v0_rollouts: 2, v0_successes: 1, v0_mc: 0.5, v0: 0.5, prover: 'policy',
};

test('PAV label JSONL: verifier training examples or an error naming the file', () => {
  const tokenizer = defaultCharTokenizer();
  fc.assert(
    fc.property(jsonlText(label), (text) => expectValueOrPlaceError('labels.jsonl', () => examplesFromLabels(parseLabelRecords(parseJsonl(text, 'labels.jsonl'), 'labels.jsonl', tokenizer), tokenizer))),
    fuzzRuns(300),
  );
});

test('prl verifier train names the label line and field it cannot use', () => {
  const model = makeTinyModelFolder(2, 'prl-fuzz-labels-');
  const labels = join(dir, 'labels.jsonl');
  writeFileSync(labels, JSON.stringify(label) + '\n' + JSON.stringify({ ...label, steps: null }) + '\n');
  const run = runPrl(['verifier', 'train', '--labels', labels, '--model', model, '--out', join(dir, 'verifier'), '--threads', '1']);
  rmSync(join(model, '..'), { recursive: true, force: true });
  assert.equal(run.status, 1);
  assert.equal(run.stderr, `prl: ${labels}:2: steps: expected an array of strings, got null\n`);
});

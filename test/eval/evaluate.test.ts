import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchmarkMetrics, evaluate, promptBuilder, readProblems, type ProblemResult } from '../../src/eval/evaluate.js';
import type { Completion, Policy, SampleRequest } from '../../src/policy/types.js';
import { PrlError } from '../../src/util/errors.js';

/**
 * A scripted policy: problem "a+b" gets n responses, response j boxing a+b when j < (a+b) mod (n+1)
 * and a+b+1 otherwise, so the number correct per problem is known in closed form. It can fail after
 * `failAfter` calls (a crash mid-run).
 */
function scriptedPolicy(failAfter = Infinity): Policy & { prompts: string[] } {
  const prompts: string[] = [];
  return {
    name: 'scripted',
    capabilities: { seed: true, tokenIds: false, topK: false },
    prompts,
    async sample(r: SampleRequest): Promise<Completion[][]> {
      if (prompts.length >= failAfter) throw new PrlError('scripted: server gone');
      const prompt = r.prompts[0] as string;
      prompts.push(prompt);
      const [a, b] = /(\d+)\+(\d+)/.exec(prompt)!.slice(1).map(Number);
      const right = (a + b) % (r.n + 1);
      return [Array.from({ length: r.n }, (_, j) => ({ text: `so \\boxed{${j < right ? a + b : a + b + 1}}`, tokens: [], logprobs: [], offsets: [], finishReason: 'stop' }))];
    },
    score: () => Promise.reject(new Error('unused')),
    close: async () => {},
  };
}

function writeProblems(dir: string, name: string, count: number): string {
  const path = join(dir, `${name}.jsonl`);
  writeFileSync(path, Array.from({ length: count }, (_, i) => JSON.stringify({ id: i, problem: `${i}+${i + 1}`, answer: String(2 * i + 1) })).join('\n') + '\n');
  return path;
}

test('evaluate grades n samples per problem; metrics equal the closed form; a rerun resumes without counting twice', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'prl-eval-'));
  try {
    const problems = [...readProblems(writeProblems(dir, 'alpha', 6), 'problem', 'answer'), ...readProblems(writeProblems(dir, 'beta', 3), 'problem', 'answer')];
    const out = join(dir, 'results.jsonl');
    const n = 4;
    const prompt = promptBuilder({ plain: 'Q: {problem}\n' });
    // Crash after 4 problems.
    const crashing = scriptedPolicy(4);
    await assert.rejects(evaluate({ policy: crashing, problems, prompt, out, n, maxTokens: 8, concurrency: 1 }), /problem 4: scripted: server gone .*rerun to resume/);
    assert.equal(readFileSync(out, 'utf8').trim().split('\n').length, 4);
    // A torn line from a crash mid-write is cut off.
    appendFileSync(out, '{"benchmark":"alpha","id":"4","ans');
    const resumed = scriptedPolicy();
    const results = await evaluate({ policy: resumed, problems, prompt, out, n, maxTokens: 8, concurrency: 3 });
    assert.equal(resumed.prompts.length, problems.length - 4, 'finished problems are not sampled again');
    const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as ProblemResult);
    assert.equal(lines.length, problems.length);
    assert.equal(new Set(lines.map((l) => `${l.benchmark}/${l.id}`)).size, problems.length);

    // Closed form: problem i has a+b = 2i+1 and right = (2i+1) mod 5 correct samples of 4.
    const right = (i: number) => (2 * i + 1) % (n + 1);
    const metrics = benchmarkMetrics(results, [1, 2, 4]);
    const alpha = [0, 1, 2, 3, 4, 5].map(right);
    assert.ok(Math.abs((metrics.alpha['avg@4'] as number) - alpha.reduce((s, c) => s + c / n, 0) / 6) < 1e-12);
    assert.ok(Math.abs((metrics.alpha['pass@4'] as number) - alpha.filter((c) => c > 0).length / 6) < 1e-12);
    // pass@2 = 1 - C(n-c, 2) / C(n, 2)
    const pass2 = alpha.reduce((s, c) => s + 1 - ((n - c) * (n - c - 1)) / (n * (n - 1)), 0) / 6;
    assert.ok(Math.abs((metrics.alpha['pass@2'] as number) - pass2) < 1e-12);
    // maj@4: the majority answer is right when more than half agree on it (ties: first seen, which is the right one here).
    const maj = alpha.reduce((s, c) => s + (c >= n - c && c > 0 ? 1 : 0), 0) / 6;
    assert.ok(Math.abs((metrics.alpha['maj@4'] as number) - maj) < 1e-12);
    assert.equal(metrics.beta.problems, 3);
    const ci = metrics.alpha.ci95 as Record<string, [number, number]>;
    assert.ok(ci['avg@4'][0] <= (metrics.alpha['avg@4'] as number) && (metrics.alpha['avg@4'] as number) <= ci['avg@4'][1]);
    assert.deepEqual(Object.keys(metrics.alpha).filter((k) => k.startsWith('pass@')).sort(), ['pass@1', 'pass@2', 'pass@4']);
    // A different n cannot reuse the file.
    await assert.rejects(evaluate({ policy: scriptedPolicy(), problems, prompt, out, n: 2, maxTokens: 8 }), /results\.jsonl:1: correct: has 4 samples, but this run asks for n = 2/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('readProblems names the line and field; chat templates render with Jinja', () => {
  const dir = mkdtempSync(join(tmpdir(), 'prl-eval-'));
  try {
    const path = join(dir, 'bad.jsonl');
    writeFileSync(path, '{"problem":"1+1","answer":"2"}\n{"problem":"x"}\n');
    assert.throws(() => readProblems(path, 'problem', 'answer'), /bad\.jsonl:2: answer: expected a reference answer, got nothing/);
    writeFileSync(path, '{"question":"1+1","answer":2}\n');
    assert.throws(() => readProblems(path, 'problem', 'answer'), /bad\.jsonl:1: problem: expected the problem text/);
    assert.equal(readProblems(path, 'question', 'answer')[0].answer, '2');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const chat = promptBuilder({ chat: "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}", bosToken: '<s>' });
  assert.equal(chat('1+1?'), '<s><|user|>1+1?\nPlease reason step by step, and put your final answer within \\boxed{}.\n<|assistant|>');
  assert.equal(promptBuilder({ plain: 'Q: {problem}\nA:' })('2+2'), 'Q: 2+2\nA:');
  assert.throws(() => promptBuilder({ plain: 'no slot' }), /--template: must contain \{problem\}/);
});

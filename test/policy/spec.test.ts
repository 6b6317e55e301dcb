import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatPolicySpec, mergePolicySpecs, parsePolicySpec } from '../../src/policy/spec.js';
import { openPolicy } from '../../src/policy/index.js';

test('parses the three kinds, options from the query, and several URLs', () => {
  assert.deepEqual(parsePolicySpec('engine:runs/x'), { kind: 'engine', dir: 'runs/x' });
  assert.deepEqual(parsePolicySpec('engine:models/base?adapter=runs/lora'), { kind: 'engine', dir: 'models/base', adapter: 'runs/lora' });
  assert.deepEqual(parsePolicySpec('llamacpp:m.gguf'), { kind: 'llamacpp', file: 'm.gguf' });
  assert.deepEqual(parsePolicySpec('openai:http://127.0.0.1:8000/v1?model=foo&concurrency=32&tokenIds=true'), {
    kind: 'openai',
    urls: ['http://127.0.0.1:8000/v1'],
    options: { model: 'foo', concurrency: 32, tokenIds: true },
  });
  const several = { kind: 'openai', urls: ['http://a:8000/v1', 'https://b/v1'], options: { model: 'm' } };
  assert.deepEqual(parsePolicySpec('openai:http://a:8000/v1?model=m,https://b/v1/'), several);
  assert.deepEqual(parsePolicySpec('openai:http://a:8000/v1,openai:https://b/v1?model=m'), several);
  assert.deepEqual(mergePolicySpecs([parsePolicySpec('openai:http://a:8000/v1?model=m'), parsePolicySpec('openai:https://b/v1')]), several);
  // A bare host gets vLLM's /v1.
  assert.deepEqual(parsePolicySpec('openai:http://h:8000').kind === 'openai' && parsePolicySpec('openai:http://h:8000'), {
    kind: 'openai', urls: ['http://h:8000/v1'], options: {},
  });
});

test('format is parse\'s inverse', () => {
  for (const text of ['engine:runs/x', 'engine:m?adapter=a/b', 'llamacpp:a/b.gguf', 'openai:http://a:1/v1,http://b:2/v1?model=m&keyEnv=K&retries=0&scoreMaxTokens=0']) {
    assert.equal(formatPolicySpec(parsePolicySpec(text)), text);
  }
});

test('bad specs get errors that say what is wrong and where', () => {
  const cases: [string, string][] = [
    ['runs/x', 'policy: "runs/x" is not a policy spec; expected engine:DIR, llamacpp:FILE.gguf or openai:URL[,URL...]'],
    ['hf:meta/llama', 'policy: "hf:" is not a policy spec; expected engine:DIR, llamacpp:FILE.gguf or openai:URL[,URL...]'],
    ['engine:', 'policy: "engine:" needs a path after the colon'],
    ['engine:m?adaptor=a', 'policy: engine:m?adaptor=a: the only option is adapter=DIR (a PEFT LoRA folder), got "adaptor=a"'],
    ['engine:?adapter=a', 'policy: engine:?adapter=a: needs a model folder before "?"'],
    ['llamacpp:model.bin', 'policy: llamacpp:model.bin: expected a .gguf file'],
    ['openai:ftp://h/v1', 'policy: openai:ftp://h/v1: the URL must start with http:// or https://'],
    ['openai:localhost:8000', 'policy: openai:localhost:8000: the URL must start with http:// or https://'],
    ['openai:127.0.0.1', 'policy: openai:127.0.0.1: not a URL (expected e.g. openai:http://127.0.0.1:8000/v1)'],
    ['openai:not a url', 'policy: openai:not a url: not a URL (expected e.g. openai:http://127.0.0.1:8000/v1)'],
    ['openai:http://h/v1?modle=x', 'policy: openai:http://h/v1: unknown option "modle" (known: model, keyEnv, concurrency, timeoutMs, retries, tokenIds, scoreMaxTokens)'],
    ['openai:http://h/v1?concurrency=0', 'policy: openai:http://h/v1: concurrency=0 must be an integer >= 1'],
    ['openai:http://a/v1?model=x,http://b/v1?model=y', 'policy: conflicting model for one policy: "x" and "y"'],
  ];
  for (const [spec, message] of cases) assert.throws(() => parsePolicySpec(spec), { name: 'PrlError', message });
  assert.throws(() => parsePolicySpec('engine:', '--prover'), { message: '--prover: "engine:" needs a path after the colon' });
  assert.throws(() => mergePolicySpecs([parsePolicySpec('engine:a'), parsePolicySpec('openai:http://h/v1')]), /only openai: specs can be repeated/);
});

test('credentials in a URL are refused without repeating them', () => {
  assert.throws(() => parsePolicySpec('openai:http://user:hunter2secret@h:8000/v1'), (err: Error) => {
    assert.match(err.message, /credentials in the URL are not supported/);
    assert.ok(!err.message.includes('hunter2secret'));
    return true;
  });
});

test('engine and llamacpp specs that name no model fail naming the flag, spec and file', async () => {
  await assert.rejects(openPolicy('engine:runs/x', {}, '--reference'), { message: '--reference: engine:runs/x: runs/x/config.json: no such file' });
  await assert.rejects(openPolicy('llamacpp:missing.gguf'), /^PrlError: policy: llamacpp:missing\.gguf: .*(missing\.gguf|node-llama-cpp)/);
});

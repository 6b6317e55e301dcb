// The known limitation: node-llama-cpp tokenizes "some test text here" while loading any model, and
// llama.cpp's SPM tokenizer aborts the process (uncaught std::out_of_range) on a character the vocab lacks,
// which is the case for prl's character-level task tokenizers (arith, planted). prl refuses such a GGUF
// with a PrlError before llama.cpp sees it. Verified here: the abort itself (in a child process), and the
// refusal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModelFolder } from '../../src/engine/checkpoint.js';
import { exportGguf, llamaCppVocabProblem } from '../../src/engine/gguf-export.js';
import { LlamaCppPolicy } from '../../src/policy/llamacpp.js';
import { PrlError } from '../../src/util/errors.js';
import { readJsonFile } from '../../src/util/fs.js';
import { makeTaskModel } from '../helpers/task-model.js';

test('llamaCppVocabProblem: only SPM vocabularies lacking a probe character (as itself or as a <0xXX> byte token)', () => {
  const probe = [...'sometxhr', '\u2581', '\n'];
  assert.equal(llamaCppVocabProblem('gpt2', ['a']), undefined);
  assert.equal(llamaCppVocabProblem('llama', probe), undefined);
  assert.equal(llamaCppVocabProblem('llama', [...probe.filter((c) => c !== '\n'), '<0x0A>']), undefined);
  assert.match(llamaCppVocabProblem('llama', probe.filter((c) => c !== 'x'))!, /lacks "x",/);
  assert.match(llamaCppVocabProblem('llama', probe.filter((c) => c !== '\u2581'))!, /lacks " ",/, 'the space is looked up as U+2581');
});

test('an arith-task GGUF aborts node-llama-cpp on load; LlamaCppPolicy refuses it with a PrlError first', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'prl-llamacpp-vocab-'));
  try {
    const dir = makeTaskModel(join(root, 'model'), 'arith');
    const folder = loadModelFolder(dir);
    const path = join(root, 'arith.gguf');
    try {
      exportGguf({ config: folder.config, tensors: folder.readAllTensors(), tokenizerJson: readJsonFile(join(dir, 'tokenizer.json')) }, path);
    } finally {
      folder.close();
    }
    // A script file, not -e: node-llama-cpp tests its binary in a child process that inherits execArgv.
    const script = join(root, 'load.mjs');
    writeFileSync(script, `
      const { getLlama } = await import(${JSON.stringify(import.meta.resolve('node-llama-cpp'))});
      const llama = await getLlama({ gpu: false, build: 'never', usePrebuiltBinaries: true, skipDownload: true, progressLogs: false, logLevel: 'error' });
      await llama.loadModel({ modelPath: ${JSON.stringify(path)}, gpuLayers: 0 });
      console.log('loaded');`);
    const child = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 60_000 });
    if (/NoBinaryFoundError/.test(child.stderr)) return t.skip('node-llama-cpp cannot run here');
    assert.doesNotMatch(child.stdout, /loaded/, 'llama.cpp loaded it: the limitation is gone, and the refusal can go too');
    assert.match(child.stderr, /std::out_of_range/);
    assert.equal(child.signal, 'SIGABRT');

    await assert.rejects(
      LlamaCppPolicy.load({ modelPath: path, threads: 1, contextSize: 64 }),
      (err: Error) => err instanceof PrlError && err.message.startsWith(`${path}: llama.cpp cannot load this model`) && /lacks "s"/.test(err.message),
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

/**
 * The policy contract against prl's own engine (a tiny model folder written here) and llama.cpp (the
 * same model exported to GGUF by `exportGguf`). A backend that cannot run here is reported skipped
 * with the reason, never passed.
 */
import { after } from 'node:test';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadModelFolder } from '../../src/engine/checkpoint.js';
import { exportGguf } from '../../src/engine/gguf-export.js';
import { readJsonFile } from '../../src/util/fs.js';
import { openPolicy } from '../../src/policy/index.js';
import { makeTinyModelFolder } from '../helpers/model-folder.js';
import { policyContract } from './contract.js';

const dir = makeTinyModelFolder(3, 'prl-contract-');
after(() => rmSync(dirname(dir), { recursive: true, force: true }));

policyContract(`engine:${dir}`, () => openPolicy(`engine:${dir}`));

policyContract('llamacpp (GGUF exported from the same folder)', async () => {
  const gguf = join(dirname(dir), 'model.gguf');
  const folder = loadModelFolder(dir);
  try {
    const tensors = folder.readAllTensors();
    exportGguf({ config: folder.config, tensors, tokenizerJson: readJsonFile(join(dir, 'tokenizer.json')) }, gguf);
  } finally {
    folder.close();
  }
  try {
    await import('node-llama-cpp');
  } catch (err) {
    return { skip: `node-llama-cpp is not installed: ${(err as Error).message}` };
  }
  try {
    return await openPolicy(`llamacpp:${gguf}`);
  } catch (err) {
    return { skip: `llama.cpp cannot run here: ${(err as Error).message}` };
  }
});

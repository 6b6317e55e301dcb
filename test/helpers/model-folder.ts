/** A tiny random model folder (llama `tiny` preset, printable-ASCII character tokenizer) for backend tests. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PRESETS } from '../../src/engine/config.js';
import { defaultCharTokenizer, initModelFolder } from '../../src/engine/io.js';

/**
 * Writes the folder under a fresh temp directory and returns its path. Weights have std 0.1 (not
 * HF's 0.02) so that log-probs differ visibly between tokens and contexts.
 */
export function makeTinyModelFolder(seed = 1, prefix = 'prl-model-'): string {
  const dir = join(mkdtempSync(join(tmpdir(), prefix)), 'model');
  initModelFolder(dir, PRESETS.tiny, defaultCharTokenizer(), seed, 0.1);
  return dir;
}

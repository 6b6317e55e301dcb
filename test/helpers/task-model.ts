import { Arena } from '../../src/engine/memory.js';
import { FallbackKernels } from '../../src/engine/kernels/fallback.js';
import { LlamaModel } from '../../src/engine/model.js';
import { PRESETS, type PresetName } from '../../src/engine/config.js';
import { saveModel } from '../../src/engine/io.js';
import { getTask } from '../../src/tasks/index.js';
import { taskTokenizer } from '../../src/tasks/codec.js';
import { Rng } from '../../src/util/rng.js';

/** A randomly initialised model folder with the task's tokenizer, for trainer tests. */
export function makeTaskModel(dir: string, task: string, taskOptions: Record<string, unknown> = {}, preset: PresetName = 'tiny', seed = 1): string {
  const tokenizer = taskTokenizer(getTask(task, taskOptions));
  const model = new LlamaModel({ ...PRESETS[preset], vocabSize: tokenizer.vocabSize }, new Arena(0), new FallbackKernels());
  model.initRandom(new Rng(seed));
  saveModel(dir, model, tokenizer);
  return dir;
}

/**
 * `prl export-gguf --model DIR --out FILE.gguf`: writes an HF model folder (config.json,
 * model.safetensors or shards, tokenizer.json) as an F32 GGUF that llama.cpp and node-llama-cpp load.
 * The folder is read by the engine's checkpoint loader (`loadModelFolder`), so export accepts exactly
 * what the engine loads (F32/F16/BF16, sharded, extra tensors ignored).
 */
import type { Command } from 'commander';
import { join } from 'node:path';
import { loadModelFolder } from '../../engine/checkpoint.js';
import { exportGguf, type HfModel } from '../../engine/gguf-export.js';
import { readJsonFile } from '../../util/fs.js';

/** Loads what the export needs from an HF model folder. */
export function readModelFolderForExport(dir: string): HfModel {
  const folder = loadModelFolder(dir);
  try {
    return { config: folder.config, tensors: folder.readAllTensors(), tokenizerJson: readJsonFile(join(dir, 'tokenizer.json')) };
  } finally {
    folder.close();
  }
}

export function register(program: Command): void {
  program
    .command('export-gguf')
    .description('Write an HF model folder (config.json, model.safetensors, tokenizer.json) as an F32 GGUF for llama.cpp.')
    .requiredOption('--model <dir>', 'model folder')
    .requiredOption('--out <file>', 'GGUF file to write')
    .action((options: { model: string; out: string }) => {
      const model = readModelFolderForExport(options.model);
      const bytes = exportGguf(model, options.out);
      process.stdout.write(`wrote ${options.out} (${model.config.modelType}, ${model.tensors.length} tensors, ${bytes} bytes)\n`);
    });
}

/**
 * `prl export-gguf --model DIR --out FILE.gguf`: writes an HF model folder (config.json,
 * model.safetensors or shards, tokenizer.json) as a GGUF that llama.cpp and node-llama-cpp load, its matrices
 * as F32, F16 or Q8_0 (`--quant`; norms and biases stay F32, as llama.cpp's converter keeps them).
 * The folder is read by the engine's checkpoint loader (`loadModelFolder`), so export accepts exactly
 * what the engine loads (F32/F16/BF16, sharded, extra tensors ignored).
 *
 * With `--adapter ADIR` it writes the PEFT LoRA folder instead, as a llama.cpp LoRA adapter GGUF for
 * the base exported from DIR (which supplies the architecture).
 */
import type { Command } from 'commander';
import { join } from 'node:path';
import { loadModelFolder, parseHfConfig } from '../../engine/checkpoint.js';
import { GGUF_QUANTS, exportGguf, type GgufQuant, type HfModel } from '../../engine/gguf-export.js';
import { exportLoraGguf } from '../../engine/gguf-lora.js';
import { Arena } from '../../engine/memory.js';
import { loadPeftAdapter } from '../../engine/peft.js';
import { inputError } from '../../util/errors.js';
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
    .description('Write an HF model folder (config.json, model.safetensors, tokenizer.json) as a GGUF for llama.cpp.')
    .requiredOption('--model <dir>', 'model folder')
    .requiredOption('--out <file>', 'GGUF file to write')
    .option('--adapter <dir>', 'write this PEFT LoRA folder as a llama.cpp LoRA adapter GGUF (for the base DIR) instead')
    .option('--quant <type>', `tensor type of the matrices: ${GGUF_QUANTS.join(', ')} (1-D tensors stay f32; adapters are always f32)`, 'f32')
    .action((options: { model: string; out: string; adapter?: string; quant: string }) => {
      if (!(GGUF_QUANTS as readonly string[]).includes(options.quant)) {
        throw inputError('--quant', `${JSON.stringify(options.quant)} is not one of ${GGUF_QUANTS.join(', ')}`);
      }
      const quant = options.quant as GgufQuant;
      if (options.adapter !== undefined) {
        const configPath = join(options.model, 'config.json');
        const config = parseHfConfig(readJsonFile(configPath), configPath);
        const adapter = loadPeftAdapter(options.adapter, config, new Arena(0));
        const bytes = exportLoraGguf(adapter, config, options.out);
        process.stdout.write(`wrote ${options.out} (LoRA adapter, rank ${adapter.config.rank}, ${adapter.parameters().length} tensors, ${bytes} bytes)\n`);
        return;
      }
      const model = readModelFolderForExport(options.model);
      const bytes = exportGguf(model, options.out, quant);
      process.stdout.write(`wrote ${options.out} (${model.config.modelType}, ${quant}, ${model.tensors.length} tensors, ${bytes} bytes)\n`);
    });
}

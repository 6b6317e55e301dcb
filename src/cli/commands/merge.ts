/**
 * `prl merge --model DIR --adapter ADIR --out DIR2`: a PEFT LoRA adapter merged into its base
 * (W + scale · B A), written as a plain HF model folder (F32) that any loader reads without adapter
 * support; an existing DIR2 is replaced atomically.
 */
import type { Command } from 'commander';
import { mergeAdapterFolder } from '../../engine/io.js';

export function register(program: Command): void {
  program
    .command('merge')
    .description('Merge a PEFT LoRA adapter folder into its base model, as a plain HF model folder.')
    .requiredOption('--model <dir>', 'base model folder')
    .requiredOption('--adapter <dir>', 'PEFT LoRA adapter folder (adapter_config.json, adapter_model.safetensors)')
    .requiredOption('--out <dir>', 'model folder to write (replaced if it exists)')
    .action((options: { model: string; adapter: string; out: string }) => {
      mergeAdapterFolder(options.model, options.adapter, options.out);
      process.stdout.write(`wrote ${options.out} (${options.model} with ${options.adapter} merged)\n`);
    });
}

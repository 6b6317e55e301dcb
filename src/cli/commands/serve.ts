/**
 * `prl serve --model DIR [--host 127.0.0.1] [--port 8000] [--enable-lora]`: an OpenAI/vLLM-compatible
 * server over the engine (see src/serve/server.ts): completions, chat completions, streaming and, with
 * `--enable-lora`, vLLM's runtime LoRA API. Binds to loopback unless `--host` says otherwise; stops
 * gracefully (requests in flight finish) on SIGINT or SIGTERM.
 */
import type { Command } from 'commander';
import { basename, resolve } from 'node:path';
import { startCompletionServer } from '../../serve/server.js';
import { openModelPolicy } from '../engine.js';
import { intFlag } from '../options.js';

interface ServeFlags {
  model: string;
  host: string;
  port: string;
  modelName?: string;
  batchWindowMs: string;
  maxBatch: string;
  adapter?: string;
  provider: string;
  threads?: string;
  quiet?: boolean;
  enableLora?: boolean;
  maxLoras: string;
  maxLoraRank: string;
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('Serve a model folder over an OpenAI/vLLM-compatible API: /v1/completions, /v1/chat/completions, /v1/models, streaming; --enable-lora adds /v1/load_lora_adapter and /v1/unload_lora_adapter.')
    .requiredOption('--model <dir>', 'model folder')
    .option('--host <address>', 'interface to bind (loopback by default)', '127.0.0.1')
    .option('--port <n>', 'port; 0 picks a free one', '8000')
    .option('--model-name <id>', 'model id to serve (default: the folder name)')
    .option('--batch-window-ms <ms>', 'how long a request waits for others to batch with', '5')
    .option('--max-batch <n>', 'most sequences per generate call', '64')
    .option('--adapter <dir>', 'a PEFT LoRA adapter folder to apply on top of the model')
    .option('--provider <name>', 'kernel provider: wasm, native (matmuls on onnxruntime-node MLAS) or ts', 'wasm')
    .option('--threads <n>', 'kernel threads (default PRL_THREADS or the core count)')
    .option('--enable-lora', "vLLM's runtime LoRA API: POST /v1/load_lora_adapter {lora_name, lora_path} loads a PEFT folder, a request's \"model\" picks it")
    .option('--max-loras <n>', 'with --enable-lora: most adapters loaded at once (each holds one slot of engine memory, reused after an unload)', '4')
    .option('--max-lora-rank <r>', 'with --enable-lora: largest adapter rank accepted', '64')
    .option('-q, --quiet', 'no line per request')
    .action(async (opts: ServeFlags) => {
      const port = intFlag(opts.port, '--port', 0);
      const lora = opts.enableLora ? { maxLoras: intFlag(opts.maxLoras, '--max-loras'), maxLoraRank: intFlag(opts.maxLoraRank, '--max-lora-rank') } : undefined;
      const policy = await openModelPolicy(opts.model, opts.provider, opts.threads === undefined ? undefined : intFlag(opts.threads, '--threads'), opts.adapter);
      const server = await startCompletionServer(policy, {
        host: opts.host,
        port,
        modelName: opts.modelName ?? basename(resolve(opts.model)),
        modelPath: resolve(opts.model),
        lora,
        batchWindowMs: intFlag(opts.batchWindowMs, '--batch-window-ms', 0),
        maxBatchSequences: intFlag(opts.maxBatch, '--max-batch'),
        log: opts.quiet ? undefined : (line) => process.stderr.write(`prl serve: ${line}\n`),
      });
      process.stdout.write(`prl serve: listening on ${server.url} (model ${opts.modelName ?? basename(resolve(opts.model))})\n`);
      await new Promise<void>((resolveStop) => {
        const stop = (signal: string): void => {
          process.stderr.write(`prl serve: ${signal}, finishing requests in flight\n`);
          resolveStop();
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
      await server.close();
      await policy.close();
      const { requests, batches, sequences } = server.stats;
      process.stderr.write(`prl serve: stopped after ${requests} requests (${batches} generate calls, ${(sequences / Math.max(1, batches)).toFixed(1)} sequences each)\n`);
    });
}

/**
 * `prl generate --model DIR --prompt "..." [-n 4] [--temperature 1] [--max-tokens 64] [--seed S]
 * [--top-p P] [--top-k K] [--stop STR]... [--json]`: samples completions with the engine. Plain output
 * prints each completion after a `--- i` line; `--json` prints one JSON line per completion with its
 * tokens, per-token log-probs (the model's, at temperature 1), offsets and finish reason.
 */
import type { Command } from 'commander';
import { collect, intFlag, numberFlag, unescapeFlag } from '../options.js';
import { openModelPolicy } from '../engine.js';

interface GenerateOptions {
  model: string;
  prompt: string;
  n: string;
  temperature: string;
  topP: string;
  topK: string;
  maxTokens: string;
  seed: string;
  stop?: string[];
  json?: boolean;
  adapter?: string;
  provider: string;
  threads?: string;
}

export function register(program: Command): void {
  program
    .command('generate')
    .description('Sample completions of a prompt with the engine.')
    .requiredOption('--model <dir>', 'model folder')
    .requiredOption('--prompt <text>', 'prompt text (\\n for newline)')
    .option('-n, --n <count>', 'completions', '1')
    .option('--temperature <t>', 'softmax temperature; 0 is greedy', '1')
    .option('--top-p <p>', 'nucleus sampling mass in (0, 1]', '1')
    .option('--top-k <k>', 'keep the k most likely tokens; 0 = off', '0')
    .option('--max-tokens <n>', 'most tokens per completion', '64')
    .option('--seed <n>', 'sampling seed', '0')
    .option('--stop <string>', 'stop string (repeatable; \\n for newline)', collect)
    .option('--json', 'one JSON line per completion with tokens and log-probs')
    .option('--adapter <dir>', 'a PEFT LoRA adapter folder to apply on top of the model')
    .option('--provider <name>', 'kernel provider: wasm, native (matmuls on onnxruntime-node MLAS) or ts', 'wasm')
    .option('--threads <n>', 'kernel threads (default PRL_THREADS or the core count)')
    .action(async (opts: GenerateOptions) => {
      const request = {
        prompts: [unescapeFlag(opts.prompt)],
        n: intFlag(opts.n, '-n'),
        temperature: numberFlag(opts.temperature, '--temperature', 0),
        topP: numberFlag(opts.topP, '--top-p', Number.MIN_VALUE, 1),
        topK: intFlag(opts.topK, '--top-k', 0),
        maxTokens: intFlag(opts.maxTokens, '--max-tokens'),
        seed: intFlag(opts.seed, '--seed', 0),
        stop: (opts.stop ?? []).map(unescapeFlag),
      };
      const policy = await openModelPolicy(opts.model, opts.provider, opts.threads === undefined ? undefined : intFlag(opts.threads, '--threads'), opts.adapter);
      try {
        const [completions] = await policy.sample(request);
        completions.forEach((c, i) => {
          if (opts.json) {
            const tokenTexts = (c.tokens as number[]).map((id) => policy.tokenizer.tokenText(id));
            process.stdout.write(JSON.stringify({ index: i, text: c.text, tokens: c.tokens, token_texts: tokenTexts, logprobs: c.logprobs, offsets: c.offsets, finish_reason: c.finishReason }) + '\n');
          } else {
            process.stdout.write(`--- ${i} (${c.finishReason}, ${c.tokens.length} tokens, log p ${c.logprobs.reduce((a, b) => a + b, 0).toFixed(3)})\n${c.text}\n`);
          }
        });
      } finally {
        await policy.close();
      }
    });
}

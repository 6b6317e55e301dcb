/**
 * `prl logprobs --model DIR --input IN.jsonl --output OUT.jsonl`: teacher-forced log-probs.
 * Each input line is `{"tokens": [ids]}` or `{"text": "..."}` (encoded with BOS in front when the
 * tokenizer has one; token ids need no tokenizer); each output line is `{"logprobs": [...]}` with log p(tok[t+1] | tok[0..t]) for
 * t = 0 .. len-2, in input order. The output is written atomically once everything is scored.
 */
import type { Command } from 'commander';
import { loadModelWeights } from '../../engine/io.js';
import { scoreSequences } from '../../engine/sampler.js';
import type { Tokenizer } from '../../engine/tokenizer.js';
import { checkIds, encodePrompt } from '../../policy/engine.js';
import { describeValue, inputError } from '../../util/errors.js';
import { readJsonl, type JsonlRecord } from '../../util/fs.js';
import { writeOutput } from '../io.js';
import { intFlag } from '../options.js';
import { openEngine } from '../engine.js';

interface LogprobsOptions {
  model: string;
  input: string;
  output?: string;
  adapter?: string;
  provider: string;
  threads?: string;
  batchSize: string;
}

/** Token ids of each record; errors name the file, line and field. Without a tokenizer only ids are read. */
export function sequencesOf(records: readonly JsonlRecord[], source: string, tokenizer: Tokenizer | undefined, vocabSize: number, maxLength: number): number[][] {
  if (records.length === 0) throw inputError(source, 'no sequences (the input is empty)');
  return records.map(({ line, value }) => {
    const where = `${source}:${line}`;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw inputError(where, `expected {"tokens": [...]} or {"text": "..."}, got ${describeValue(value)}`);
    const rec = value as Record<string, unknown>;
    let ids: number[];
    if (rec.tokens !== undefined) {
      if (!Array.isArray(rec.tokens)) throw inputError(`${where}: tokens`, `expected an array of token ids, got ${describeValue(rec.tokens)}`);
      if (rec.tokens.length === 0) throw inputError(`${where}: tokens`, 'is empty');
      ids = checkIds(rec.tokens, vocabSize, `${where}: tokens`);
    } else if (rec.text !== undefined) {
      if (typeof rec.text !== 'string') throw inputError(`${where}: text`, `expected a string, got ${describeValue(rec.text)}`);
      if (tokenizer === undefined) throw inputError(`${where}: text`, 'text needs the model folder\'s tokenizer.json, which it lacks; give {"tokens": [ids]} instead');
      ids = encodePrompt(tokenizer, vocabSize, rec.text, `${where}: text`);
    } else {
      throw inputError(where, 'needs a "tokens" or a "text" field');
    }
    if (ids.length > maxLength) throw inputError(where, `${ids.length} tokens exceed max_position_embeddings ${maxLength}`);
    return ids;
  });
}

export function register(program: Command): void {
  program
    .command('logprobs')
    .description('Teacher-forced per-token log-probs of token or text sequences (JSONL in, JSONL out).')
    .requiredOption('--model <dir>', 'model folder')
    .requiredOption('--input <file>', 'JSONL, one {"tokens": [ids]} or {"text": "..."} per line')
    .option('--output <file>', 'JSONL of {"logprobs": [...]}, written atomically (default stdout)')
    .option('--batch-size <n>', 'sequences per forward pass', '8')
    .option('--adapter <dir>', 'a PEFT LoRA adapter folder to apply on top of the model')
    .option('--provider <name>', 'kernel provider: wasm, native (matmuls on onnxruntime-node MLAS) or ts', 'wasm')
    .option('--threads <n>', 'kernel threads (default PRL_THREADS or the core count)')
    .action(async (opts: LogprobsOptions) => {
      const batchSize = intFlag(opts.batchSize, '--batch-size');
      const records = readJsonl(opts.input);
      const engine = await openEngine(opts.provider, opts.threads === undefined ? undefined : intFlag(opts.threads, '--threads'));
      try {
        const { model, tokenizer } = loadModelWeights(opts.model, engine, { trainable: false, adapter: opts.adapter });
        const sequences = sequencesOf(records, opts.input, tokenizer, model.config.vocabSize, model.config.maxPositionEmbeddings);
        const logprobs = scoreSequences(model, sequences, { batchSize });
        writeOutput(opts.output, logprobs.map((lp) => JSON.stringify({ logprobs: lp }) + '\n').join(''));
      } finally {
        await engine.kernels.dispose();
      }
    });
}

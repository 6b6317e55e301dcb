/**
 * A user's checkpoint in miniature, for the reproduction tests: a qwen2-shaped Hugging Face folder with a
 * byte-level BPE tokenizer.json, a chat template, two end ids in generation_config.json (<|im_end|>,
 * <|endoftext|>), and a small math train/eval set beside it. Random weights: the tests check the pipeline.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runPrl } from '../cli/run-cli.js';
import { byteLevelTokenizerJson } from '../helpers/bpe-tokenizer.js';

const TEMPLATE = '{% for m in messages %}<|user|>{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}';

export interface UserCheckpoint {
  model: string;
  /** {"trainData", "evalData", "maxResponseChars"}: the math task's options for `--task-options`. */
  taskOptions: Record<string, unknown>;
}

/** Writes the folder under `root/<name>` (init seed `seed`, so two names with two seeds differ) and the data once. */
export function makeUserCheckpoint(root: string, name = 'model', seed = 1): UserCheckpoint {
  const { json, size } = byteLevelTokenizerJson();
  const endOfText = size - 1;
  const imEnd = size;
  const tokenizer = json as { added_tokens: object[] };
  tokenizer.added_tokens.push({ id: imEnd, content: '<|im_end|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  mkdirSync(root, { recursive: true });
  const preset = join(root, `${name}-config.json`);
  // vocab_size exactly the tokenizer's: rl.ts's trace rows cannot yet print a sampled padding id (a random model samples them).
  writeFileSync(preset, JSON.stringify({ model_type: 'qwen2', hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, vocab_size: size + 1, eos_token_id: endOfText, tie_word_embeddings: true }));
  const model = join(root, name);
  const init = runPrl(['init', '--preset', preset, '--out', model, '--init-std', '0.1', '--seed', String(seed)]);
  assert.equal(init.status, 0, init.stderr);
  writeFileSync(join(model, 'tokenizer.json'), JSON.stringify(tokenizer));
  writeFileSync(join(model, 'tokenizer_config.json'), JSON.stringify({ chat_template: TEMPLATE, eos_token: '<|im_end|>' }));
  writeFileSync(join(model, 'generation_config.json'), JSON.stringify({ eos_token_id: [imEnd, endOfText] }));
  const problems = (from: number) => Array.from({ length: 6 }, (_, i) => JSON.stringify({ problem: `What is ${from + i} + 1?`, answer: String(from + i + 1) })).join('\n') + '\n';
  const trainData = join(root, 'math-train.jsonl');
  const evalData = join(root, 'math-eval.jsonl');
  writeFileSync(trainData, problems(1));
  writeFileSync(evalData, problems(20));
  return { model, taskOptions: { trainData, evalData, maxResponseChars: 24 } };
}

/**
 * A tiny instruct-style Hugging Face folder as users bring them: a qwen2 model from `prl init`, a byte-level
 * BPE tokenizer.json with <|endoftext|> and <|im_end|>, a chat template, and the end ids in
 * generation_config.json. Its tokenizer is one llama.cpp loads (prl's character-level task tokenizers are not).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runPrl } from '../cli/run-cli.js';
import { byteLevelTokenizerJson } from './bpe-tokenizer.js';

export const INSTRUCT_TEMPLATE = '{% for m in messages %}<|user|>{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}';

/** Writes the folder as `root/model`; `endOfText` and `imEnd` are the two end ids. */
export function instructFolder(root: string): { dir: string; endOfText: number; imEnd: number } {
  const { json, size } = byteLevelTokenizerJson();
  const endOfText = size - 1;
  const imEnd = size;
  const tokenizer = json as { added_tokens: object[] };
  tokenizer.added_tokens.push({ id: imEnd, content: '<|im_end|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const preset = join(root, 'config.json');
  // vocab_size padded past the tokenizer, as HF checkpoints are.
  writeFileSync(preset, JSON.stringify({ model_type: 'qwen2', hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, vocab_size: size + 7, eos_token_id: endOfText, tie_word_embeddings: true }));
  const dir = join(root, 'model');
  const init = runPrl(['init', '--preset', preset, '--out', dir, '--init-std', '0.1']);
  assert.equal(init.status, 0, init.stderr);
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ chat_template: INSTRUCT_TEMPLATE, eos_token: '<|im_end|>' }));
  writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: [imEnd, endOfText] }));
  return { dir, endOfText, imEnd };
}

/** Shared pieces of the `prl serve` tests: a model folder with a chat template, PEFT adapters, HTTP calls. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PRESETS, type ModelConfig } from '../../src/engine/config.js';
import { DEFAULT_ALPHABET, initModelFolder } from '../../src/engine/io.js';
import { LoraAdapter, type LoraTarget } from '../../src/engine/lora.js';
import { Arena } from '../../src/engine/memory.js';
import { savePeftAdapter } from '../../src/engine/peft.js';
import { CharTokenizer } from '../../src/engine/tokenizer.js';
import { Rng } from '../../src/util/rng.js';

/** Each message as `<role>content\n`, then `<assistant>` for the reply. */
export const CHAT_TEMPLATE = '{% for m in messages %}<{{ m.role }}>{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}';

/** A tiny random Llama folder (character tokenizer, std 0.1 weights) whose tokenizer has CHAT_TEMPLATE; returns [dir, config]. */
export function makeChatModelFolder(seed: number, prefix: string): { dir: string; config: ModelConfig } {
  const dir = join(mkdtempSync(join(tmpdir(), prefix)), 'model');
  const tokenizer = new CharTokenizer({ alphabet: DEFAULT_ALPHABET, specialTokens: ['<bos>', '<eos>'], bos: '<bos>', eos: '<eos>', chatTemplate: CHAT_TEMPLATE });
  const config = initModelFolder(dir, PRESETS.tiny, tokenizer, seed, 0.1);
  return { dir, config };
}

/** Writes a PEFT adapter folder with random A and B (B != 0, so it changes the model's outputs). */
export function writeAdapter(dir: string, config: ModelConfig, options: { rank: number; seed: number; targets?: LoraTarget[] }): string {
  const adapter = new LoraAdapter(config, new Arena(0), { rank: options.rank, targets: options.targets ?? ['q', 'v', 'o', 'down'] });
  adapter.initRandom(new Rng(options.seed));
  const rng = new Rng(options.seed + 1000);
  for (const p of adapter.parameters()) if (p.name.includes('lora_B')) p.data.forEach((_, i) => (p.data[i] = 0.3 * rng.normal()));
  savePeftAdapter(dir, adapter);
  return dir;
}

export interface Answer {
  status: number;
  text: string;
  json: Record<string, unknown>;
}

/** POSTs JSON to `base + path` (base ends in /v1); parses the answer as JSON when it is. */
export async function post(base: string, path: string, body: unknown): Promise<Answer> {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // plain text (vLLM's LoRA success lines)
  }
  return { status: res.status, text, json };
}

/** The `data:` payloads of a server-sent event stream, the final `[DONE]` included as the string. */
export function parseEvents(text: string): unknown[] {
  const events = text.split('\n\n').filter((e) => e.length > 0);
  return events.map((e) => {
    if (!e.startsWith('data: ')) throw new Error(`not a data event: ${JSON.stringify(e)}`);
    const data = e.slice('data: '.length);
    return data === '[DONE]' ? data : (JSON.parse(data) as unknown);
  });
}

export interface VllmError {
  message: string;
  type: string;
  param: string | null;
  code: number;
}

export function errorOf(answer: Answer): VllmError {
  return answer.json.error as VllmError;
}

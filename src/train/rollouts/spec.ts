/** `--rollout` text to a typed spec; each error names the part that is wrong. */
import { PrlError } from '../../util/errors.js';
import type { LlamaCppRolloutOptions } from './types.js';

export type RolloutSpec =
  | { kind: 'engine' }
  | { kind: 'llamacpp'; options: LlamaCppRolloutOptions }
  | { kind: 'openai'; urls: string[] };

const USAGE = 'expected engine, llamacpp[:quant=f32|f16|q8_0,gpu=auto|off,reload=K,threads=N] or openai:URL[,URL...]';

export function parseRolloutSpec(text: string): RolloutSpec {
  const bad = (problem: string): never => {
    throw new PrlError(`--rollout ${JSON.stringify(text)}: ${problem}`);
  };
  if (text === 'engine') return { kind: 'engine' };
  if (text === 'llamacpp' || text.startsWith('llamacpp:')) return { kind: 'llamacpp', options: parseLlamaCppOptions(text.slice('llamacpp:'.length), bad) };
  if (text.startsWith('openai:')) return { kind: 'openai', urls: parseUrls(text.slice('openai:'.length), bad) };
  return bad(USAGE);
}

function parseLlamaCppOptions(text: string, bad: (problem: string) => never): LlamaCppRolloutOptions {
  const options: LlamaCppRolloutOptions = { quant: 'f32', gpu: 'auto', reloadEvery: 16 };
  if (text === '') return options;
  const seen = new Set<string>();
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) bad(`option ${JSON.stringify(part)}: expected key=value`);
    const key = part.slice(0, eq);
    const value = part.slice(eq + 1);
    if (seen.has(key)) bad(`option ${key} given twice`);
    seen.add(key);
    if (key === 'quant') {
      if (value !== 'f32' && value !== 'f16' && value !== 'q8_0') bad(`quant=${value}: expected f32, f16 or q8_0`);
      options.quant = value as LlamaCppRolloutOptions['quant'];
    } else if (key === 'gpu') {
      if (value !== 'auto' && value !== 'off') bad(`gpu=${value}: expected auto or off`);
      options.gpu = value as LlamaCppRolloutOptions['gpu'];
    } else if (key === 'reload' || key === 'threads') {
      const n = Number(value);
      if (!(/^\d+$/.test(value) && n >= 1)) bad(`${key}=${value}: expected a positive integer`);
      if (key === 'reload') options.reloadEvery = n;
      else options.threads = n;
    } else {
      bad(`unknown option ${JSON.stringify(key)} (known: quant, gpu, reload, threads)`);
    }
  }
  return options;
}

/** Base URLs, without a trailing slash or `/v1` (the fleet adds the routes of each server kind). */
function parseUrls(text: string, bad: (problem: string) => never): string[] {
  if (text === '') bad('no URL after openai:');
  const urls = text.split(',').map((raw) => {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return bad(`${JSON.stringify(raw)} is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') bad(`${raw}: expected an http or https URL`);
    if (url.username || url.password) bad(`${url.host}: put credentials in --api-key or the API key variable, not the URL`);
    return raw.replace(/\/+$/, '').replace(/\/v1$/, '');
  });
  const dup = urls.find((u, i) => urls.indexOf(u) !== i);
  if (dup) bad(`${dup} given twice`);
  return urls;
}

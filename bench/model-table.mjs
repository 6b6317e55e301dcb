// The markdown table of bench/model.sh: prl's and PyTorch's JSON lines (`prl bench --model/--shape --json`,
// bench/torch_model.py) side by side, with prl / PyTorch ratios.
//
//   node bench/model-table.mjs prl.jsonl torch.jsonl
//
// Lines that are not JSON objects (log lines) are skipped; a figure missing on one side prints "-".
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The JSON objects of a JSON-lines file, by their `name`. */
export function readFigures(path) {
  const figures = {};
  readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim().startsWith('{'))
    .forEach((line, i) => {
      let value;
      try {
        value = JSON.parse(line);
      } catch {
        throw new Error(`${path}: JSON line ${i + 1} does not parse: ${line.slice(0, 80)}`);
      }
      if (typeof value.name === 'string') figures[value.name] = value;
    });
  return figures;
}

const fmt = (x) => (x === undefined ? '-' : Number(x) >= 100 ? Number(x).toFixed(0) : Number(x).toFixed(2));
const ratio = (a, b) => (a === undefined || b === undefined || Number(b) === 0 ? '-' : `${(Number(a) / Number(b)).toFixed(2)}x`);

/** Markdown for one pair of runs; `prl` and `torch` are readFigures results. */
export function modelTable(prl, torch) {
  const any = prl['train-step'] ?? prl.sample ?? torch['train-step'] ?? torch.sample;
  if (!any) throw new Error('no train-step or sample figure on either side');
  const train = [prl['train-step'], torch['train-step']];
  const sample = [prl.sample, torch.sample];
  const rows = [];
  const lora = Number(any.lora_rank) > 0 ? `LoRA r${any.lora_rank}` : 'full fine-tuning';
  if (train[0] || train[1]) {
    const t = train[0] ?? train[1];
    rows.push([`train step, ms (${lora}, ${t.batch} x ${t.seq})`, train[0]?.ms, train[1]?.ms]);
    rows.push(['train peak RSS, GiB', train[0]?.peak_rss_gib, train[1]?.peak_rss_gib]);
  }
  if (sample[0] || sample[1]) {
    const s = sample[0] ?? sample[1];
    rows.push([`sample, tokens/s (${s.sample_batch} x (${s.prompt} + ${s.new_tokens}))`, sample[0]?.tokens_per_s, sample[1]?.tokens_per_s]);
    rows.push(['sample peak RSS, GiB', sample[0]?.peak_rss_gib, sample[1]?.peak_rss_gib]);
  }
  const side = (f) => (f ? `${f.provider}, ${f.threads} thread${Number(f.threads) === 1 ? '' : 's'}` : '-');
  const p = prl['train-step'] ?? prl.sample;
  const q = torch['train-step'] ?? torch.sample;
  return [
    `${any.model}: ${any.layers} layers, hidden ${any.hidden}, vocab ${any.vocab}; prl: ${side(p)}; PyTorch: ${side(q)}`,
    '',
    '| figure | prl | PyTorch | prl / PyTorch |',
    '|---|---:|---:|---:|',
    ...rows.map(([name, a, b]) => `| ${name} | ${fmt(a)} | ${fmt(b)} | ${ratio(a, b)} |`),
    '',
    'prl / PyTorch below 1 favours prl for time and RSS, above 1 for tokens/s.',
  ].join('\n');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [prlPath, torchPath] = process.argv.slice(2);
  if (!prlPath || !torchPath) {
    console.error('usage: node bench/model-table.mjs prl.jsonl torch.jsonl');
    process.exit(2);
  }
  console.log(modelTable(readFigures(prlPath), readFigures(torchPath)));
}

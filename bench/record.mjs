// Prints prl vs PyTorch bench figures as a table and appends it, dated, to bench/RESULTS.md.
// Usage: node bench/record.mjs "<prl JSON lines>" "<torch JSON lines>"
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';

const parse = (text) => Object.fromEntries(text.trim().split('\n').filter(Boolean).map((line) => {
  const row = JSON.parse(line);
  return [row.name, row];
}));
const [prl, torch] = process.argv.slice(2, 4).map(parse);
if (!prl['train-step'] || !torch['train-step'] || !prl.sample || !torch.sample) {
  console.error('record.mjs: need train-step and sample lines from both prl and torch');
  process.exit(1);
}

const trainRatio = prl['train-step'].ms / torch['train-step'].ms;
const sampleRatio = prl.sample.tokens_per_s / torch.sample.tokens_per_s;
const engine = `${prl['train-step'].provider ?? '?'}, ${prl['train-step'].threads ?? '?'} thread(s)`;
const tokensPerS = (ms) => ((32 * 64) / (ms / 1000)).toFixed(0);
const table = [
  `| figure | prl (${engine}) | ${torch['train-step'].provider ?? 'torch'} (best of 1, 2 threads) | ratio |`,
  '| --- | ---: | ---: | ---: |',
  `| train-step, 32x64 tokens (ms, lower is better) | ${prl['train-step'].ms.toFixed(1)} | ${torch['train-step'].ms.toFixed(1)} | ${trainRatio.toFixed(2)}x the time |`,
  `| train-step throughput (tokens/s) | ${tokensPerS(prl['train-step'].ms)} | ${tokensPerS(torch['train-step'].ms)} | |`,
  `| sample, 32 x 64 new tokens (tokens/s, higher is better) | ${prl.sample.tokens_per_s.toFixed(0)} | ${torch.sample.tokens_per_s.toFixed(0)} | ${sampleRatio.toFixed(2)}x the speed |`,
].join('\n');
console.log(table);

const path = 'bench/RESULTS.md';
if (!existsSync(path)) writeFileSync(path, '# Benchmark results\n\nAppended by `npm run bench` (bench/run.sh). Model: the `bench` preset (src/engine/config.ts).\n');
const date = new Date().toISOString().replace('T', ' ').slice(0, 16);
// The load average says whether the figures can be trusted: both runs share the machine's cores.
const load = loadavg().map((x) => x.toFixed(1)).join(' / ');
appendFileSync(path, `\n## End to end, ${date} UTC\n\n${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}, load average ${load} (1 / 5 / 15 min) when recorded.\n\n${table}\n`);

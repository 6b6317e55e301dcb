// `prl serve` throughput: requests/s and generated tokens/s under 1, 4 and 16 concurrent clients on the
// tiny preset model (random weights, character tokenizer), each client sending one request after the
// other (prompt of ~40 characters, n = 1, max_tokens 32, temperature 1, logprobs). The server runs as a
// child process (`prl serve --threads T`), as a user would run it. Run: node dist/bench/serve.js [--threads 2]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PRESETS } from '../src/engine/config.js';
import { defaultCharTokenizer, initModelFolder } from '../src/engine/io.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const REQUESTS_PER_CLIENT_LEVEL = 96;
const MAX_TOKENS = 32;
const threads = process.argv.includes('--threads') ? process.argv[process.argv.indexOf('--threads') + 1] : '2';

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'prl-bench-serve-'));
  const model = join(work, 'tiny');
  initModelFolder(model, PRESETS.tiny, defaultCharTokenizer(), 0);
  const child = spawn(process.execPath, [MAIN, 'serve', '--model', model, '--port', '0', '--threads', threads], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening on (\S+)/.exec(out);
        if (m) resolve(m[1]);
      });
      child.once('exit', (code) => reject(new Error(`prl serve exited with ${code}`)));
    });
    const rows: string[] = [];
    for (const clients of [1, 4, 16]) {
      await run(url, clients, 8); // warm-up
      const r = await run(url, clients, REQUESTS_PER_CLIENT_LEVEL);
      rows.push(`| ${clients} | ${REQUESTS_PER_CLIENT_LEVEL} | ${r.requestsPerS.toFixed(1)} | ${r.tokensPerS.toFixed(0)} | ${r.p50.toFixed(0)} | ${r.p95.toFixed(0)} |`);
      process.stderr.write(`clients ${clients}: ${r.requestsPerS.toFixed(1)} req/s, ${r.tokensPerS.toFixed(0)} tok/s\n`);
    }
    process.stdout.write(['| clients | requests | requests/s | tokens/s | p50 latency ms | p95 latency ms |', '| ---: | ---: | ---: | ---: | ---: | ---: |', ...rows].join('\n') + '\n');
  } finally {
    child.kill('SIGTERM');
    rmSync(work, { recursive: true, force: true });
  }
}

/** `total` requests spread over `clients` concurrent loops; wall-clock throughput and latency percentiles. */
async function run(url: string, clients: number, total: number): Promise<{ requestsPerS: number; tokensPerS: number; p50: number; p95: number }> {
  let next = 0;
  let tokens = 0;
  const latencies: number[] = [];
  const start = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < total) {
        const i = next++;
        const t0 = performance.now();
        const res = await fetch(`${url}/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ prompt: `Question ${i}: what is ${i} plus ${i + 1}?\nAnswer:`, max_tokens: MAX_TOKENS, temperature: 1, logprobs: 1, seed: i }),
        });
        const json = (await res.json()) as { usage: { completion_tokens: number } };
        if (res.status !== 200) throw new Error(`status ${res.status}: ${JSON.stringify(json)}`);
        tokens += json.usage.completion_tokens;
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  return { requestsPerS: total / seconds, tokensPerS: tokens / seconds, p50: at(0.5), p95: at(0.95) };
}

await main();

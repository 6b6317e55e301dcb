#!/usr/bin/env bash
# `npm run bench:made`: the PAV didactic MADE (src/engine/made.ts) on prl's engine, 1 and 2 threads,
# against an independent PyTorch implementation (bench/torch_made.py), printed as one table with ratios.
# Nothing is written to bench/RESULTS.md; copy the table there with the date, machine and load average.
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/torch-baseline.sh
[ -f dist/bench/made.js ] || npm run build

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
prl_out=$(node dist/bench/made.js --json)
torch_out=$(/usr/bin/python3 bench/torch_made.py)
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

node --input-type=module - "$prl_out" "$torch_out" <<'EOF'
const [prl, torch] = process.argv.slice(2, 4).map((s) => JSON.parse(s));
const p1 = prl.threads['1'], p2 = prl.threads['2'], t = torch.best;
const cell = (x) => (x ? `${x.ms.toFixed(2)} (${x.cpu_ms.toFixed(2)})` : '-');
const ratio = (op) => (t[op] ? `${(Math.min(p1[op].ms, p2[op].ms) / t[op].ms).toFixed(2)}x` : '-');
const threadsOf = (op) => Object.entries(torch.threads).find(([, r]) => r[op].ms === t[op].ms)?.[0];
console.log(`| figure, ms per call: wall (process CPU) | prl ${prl.provider} 1 thread | 2 threads | ${torch.provider} best | ratio prl best / torch best |`);
console.log('| --- | ---: | ---: | ---: | ---: |');
const rows = [
  ['train step, batch 64 (logProbs + backward + AdamW)', 'train'],
  ['sample 64 sequences (10 full passes)', 'sample'],
  [`RL iteration (runMadeRl, ${prl.rl_iterations} iterations / ${prl.rl_iterations})`, 'rl'],
];
for (const [label, op] of rows) {
  const torchCell = t[op] ? `${cell(t[op])} [${threadsOf(op)}t]` : '-';
  console.log(`| ${label} | ${cell(p1[op])} | ${cell(p2[op])} | ${torchCell} | ${ratio(op)} |`);
}
EOF

#!/usr/bin/env bash
# `npm run bench`: prl's engine against an independent PyTorch implementation of the same model.
# Extra arguments go to `prl bench` (e.g. --provider ts --threads 1 --iters 5).
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/torch-baseline.sh
[ -f dist/src/cli/main.js ] || npm run build

prl_out=$(node dist/src/cli/main.js bench --json "$@")
torch_out=$(/usr/bin/python3 bench/torch_bench.py)
node bench/record.mjs "$prl_out" "$torch_out"

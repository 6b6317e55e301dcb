#!/usr/bin/env bash
# `npm run bench`: prl's engine against an independent PyTorch implementation of the same model.
# Extra arguments go to `prl bench` (e.g. --provider ts --threads 1 --iters 5).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "bench: installing Debian python3-torch (the PyTorch baseline)" >&2
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update && apt-get install -y python3-torch libopenblas0-pthread
  else
    sudo apt-get update && sudo apt-get install -y python3-torch libopenblas0-pthread
  fi
fi
[ -f dist/src/cli/main.js ] || npm run build

prl_out=$(node dist/src/cli/main.js bench --json "$@")
torch_out=$(/usr/bin/python3 bench/torch_bench.py)
node bench/record.mjs "$prl_out" "$torch_out"

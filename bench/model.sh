#!/usr/bin/env bash
# prl against PyTorch on a model of real size, in one run, one after the other on the same machine:
# `prl bench --shape/--model ... --json`, then bench/torch_model.py with the same flags, then the
# markdown table of bench/model-table.mjs (prl / PyTorch ratios of time, peak RSS and tokens/s).
#
#   bench/model.sh [--shape qwen2.5-0.5b | --model DIR] [--layers N] [--lora-rank 16] [--recompute] [--bf16] [--provider native] [--train-only | --sample-only]
#                  [--batch 4 --seq 256] [--sample-batch 8 --prompt 32 --new-tokens 32] [--threads 2] [--iters 3]
#
# Defaults: --shape qwen2.5-0.5b (all 24 layers), --threads 2. PyTorch gets the same thread count through
# torch.set_num_threads, OMP_NUM_THREADS and OPENBLAS_NUM_THREADS. A --model folder is timed by PyTorch
# with random weights of its config.json's shape. The JSON lines and the table are kept in
# runs/bench-model-<UTC time>/ (prl.jsonl, torch.jsonl, table.md, machine.txt).
# Run it alone on the machine: other work on the cores changes both sides' times.
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/torch-baseline.sh
[ -f dist/src/cli/main.js ] || npm run build

all_args="$*"
prl_args=()
torch_args=()
threads=2
source_given=no
while [ $# -gt 0 ]; do
  case "$1" in
    --model)
      prl_args+=(--model "$2"); torch_args+=(--config "${2%/}/config.json"); source_given=yes; shift 2 ;;
    --shape)
      prl_args+=(--shape "$2"); torch_args+=(--shape "$2"); source_given=yes; shift 2 ;;
    --threads)
      threads="$2"; shift 2 ;;
    --recompute | --bf16)
      prl_args+=("$1"); shift ;;  # prl only: PyTorch keeps every activation and a float32 base
    --provider)
      prl_args+=(--provider "$2"); shift 2 ;;
    --train-only | --sample-only)
      prl_args+=("$1"); torch_args+=("$1"); shift ;;
    --layers | --lora-rank | --batch | --seq | --sample-batch | --prompt | --new-tokens | --iters)
      prl_args+=("$1" "$2"); torch_args+=("$1" "$2"); shift 2 ;;
    *)
      echo "bench/model.sh: unknown argument $1 (see the usage at the top of this file)" >&2; exit 2 ;;
  esac
done
if [ "$source_given" = no ]; then
  prl_args+=(--shape qwen2.5-0.5b); torch_args+=(--shape qwen2.5-0.5b)
fi

out="runs/bench-model-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores"
  echo "vectors: $(grep -qw avx512f /proc/cpuinfo && echo AVX-512 || (grep -qw avx2 /proc/cpuinfo && echo AVX2 || echo 'no AVX2'))"
  echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
  echo "node: $(node --version), torch: $(/usr/bin/python3 -c 'import torch; print(torch.__version__)')"
  echo "args: $all_args"
} > "$out/machine.txt"
cat "$out/machine.txt"

echo "prl: node dist/src/cli/main.js bench --json --threads $threads ${prl_args[*]}" >&2
node dist/src/cli/main.js bench --json --threads "$threads" "${prl_args[@]}" | tee "$out/prl.jsonl"
echo "PyTorch: bench/torch_model.py --threads $threads ${torch_args[*]}" >&2
OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads" /usr/bin/python3 bench/torch_model.py --threads "$threads" "${torch_args[@]}" | tee "$out/torch.jsonl"

node bench/model-table.mjs "$out/prl.jsonl" "$out/torch.jsonl" | tee "$out/table.md"

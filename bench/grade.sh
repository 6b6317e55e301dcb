#!/usr/bin/env bash
# Grading speed and agreement (bench/grade.ts): this commit against the grader of BASE (default: where this
# branch left main), built from git into .tmp/ and measured in the same run. Usage: bash bench/grade.sh [BASE]
# Nothing is written to bench/RESULTS.md; copy the table there with the date, CPU and load average.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-$(git merge-base main HEAD)}
[ -f dist/bench/grade.js ] || npm run build
dir=.tmp/grade-baseline-$(git rev-parse --short "$base")
mkdir -p "$dir"
git show "$base:src/verify/math.ts" > "$dir/math.ts"
npx tsc --ignoreConfig --module NodeNext --moduleResolution NodeNext --target ES2022 --skipLibCheck --types node --outDir "$dir" "$dir/math.ts"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# One core, as an RL step would give the grader (the worker thread shares it).
taskset -c 0 node dist/bench/grade.js --baseline "$dir/math.js"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

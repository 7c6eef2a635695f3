#!/usr/bin/env bash
# Everything the test suite leaves out, in one go: tests labelled `slow` (if
# any), then every side-by-side benchmark against PyTorch (each prints its
# frame: CPU, threads, GEMM ceilings, PyTorch's BLAS) and the n-gram figures.
# Takes 30-60 minutes on 2 cores; run it on an otherwise idle machine.
# Usage: bench/run.sh [build-dir]          (e.g. bench/run.sh 2>&1 | tee bench.log)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-"$root/build"}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release > /dev/null
ninja -C "$build"
echo "== slow tests"
ctest --test-dir "$build" -L slow --output-on-failure --no-tests=ignore
for script in compare lm_compare vision_compare speech_compare moe_compare; do
  echo "== bench/$script.sh"
  "$root/bench/$script.sh" "$build"
done
echo "== bench/ngram_bench.sh"
"$root/bench/ngram_bench.sh" "$build"

#!/bin/sh
# Every op benchmark against PyTorch in one go: the op table (attention,
# layernorm/rmsnorm, cross-entropy, AdamW, GEMM; bench/compare.py) and the
# matmul/linear table (f32 and bf16, forward + backward; bench/compare_matmul.py).
# Usage, from the repository root after a Release build with benchmarks:
#   bench/compare.sh [build-dir]       (threads: OMP_NUM_THREADS, default 2)
set -eu
build=${1:-build}
here=$(dirname "$0")
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 "$here/compare.py" "$build"
echo
/usr/bin/python3 "$here/compare_matmul.py" "$build"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

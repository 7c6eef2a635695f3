#!/usr/bin/env bash
# Every op benchmark against PyTorch in one go, after the frame (CPU, GEMM
# ceilings, PyTorch's BLAS; bench/frame.py): the op table (attention,
# layernorm/rmsnorm, cross-entropy, AdamW, GEMM; bench/compare.py) and the
# matmul/linear table (f32 and bf16, forward + backward; bench/compare_matmul.py).
# Usage, from the repository root after a Release build with benchmarks:
#   bench/compare.sh [build-dir]       (threads: OMP_NUM_THREADS, default 2)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-"$root/build"}
. "$root/bench/frame.sh"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 "$root/bench/compare.py" "$build"
echo
/usr/bin/python3 "$root/bench/compare_matmul.py" "$build"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

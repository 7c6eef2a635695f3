#!/usr/bin/env bash
# Decoder-LM training throughput, kiln against PyTorch, same model and batch,
# 2 threads, after the frame (CPU, GEMM ceilings, PyTorch's BLAS; bench/frame.py).
# PyTorch runs as shipped and in its best configuration (torch*: huge-page
# malloc tunables; bf16 autocast for the bf16 rows). kiln's bf16 runs as a
# user gets it (the bf16 GEMM where it beats f32, else f32 matmuls) and, where
# the bf16 GEMM is not hopeless, forced onto it.
# Usage: bench/lm_compare.sh [build-dir] [steps]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-"$root/build"}
steps=${2:-10}
. "$root/bench/frame.sh"
best="glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296"
for model in kjv gpt2; do
  k32=$("$build/bench/lm_train_bench" "$model" "$steps")
  t32=$(/usr/bin/python3 "$root/bench/torch_lm.py" "$model" "$steps")
  t32b=$(GLIBC_TUNABLES=$best /usr/bin/python3 "$root/bench/torch_lm.py" "$model" "$steps")
  k16=$("$build/bench/lm_train_bench" "$model" "$steps" --bf16)
  echo "kiln f32:  $k32"
  echo "kiln bf16: $k16"
  row "$model f32 vs torch" "$k32" "$t32" f32
  row "$model f32 vs torch*" "$k32" "$t32b" f32
  if slow_gemm TORCH_BF16; then
    echo "$model bf16 vs torch* bf16: skipped, PyTorch's bf16 matmul runs at $TORCH_GEMM_BF16 GFLOP/s here"
  else
    row "$model bf16 vs torch* bf16" "$k16" "$(GLIBC_TUNABLES=$best /usr/bin/python3 "$root/bench/torch_lm.py" \
      "$model" "$steps" --bf16)" bf16
  fi
  row "$model kiln bf16 against kiln f32" "$k16" "$k32" bf16 "bf16" " f32"
  if slow_gemm KILN_BF16; then
    echo "$model kiln bf16 on the bf16 GEMM: skipped, it runs at $KILN_GEMM_BF16 GFLOP/s here"
  else
    row "$model kiln bf16 GEMM forced, vs f32" "$(KILN_BF16_GEMM=native "$build/bench/lm_train_bench" "$model" \
      "$steps" --bf16)" "$k32" bf16 "bf16" " f32"
  fi
done

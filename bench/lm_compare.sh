#!/usr/bin/env bash
# Decoder-LM training throughput, kiln against PyTorch, same model and batch,
# 2 threads; PyTorch as shipped and in its best configuration (huge-page
# malloc tunables; bf16 autocast for the bf16 rows). Usage: bench/lm_compare.sh [build-dir] [steps]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-"$root/build"}
steps=${2:-10}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
best="glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296"
for model in kjv gpt2; do
  echo "kiln  f32  $("$build/bench/lm_train_bench" "$model" "$steps")"
  echo "torch f32  $(/usr/bin/python3 "$root/bench/torch_lm.py" "$model" "$steps")"
  echo "torch* f32 $(GLIBC_TUNABLES=$best /usr/bin/python3 "$root/bench/torch_lm.py" "$model" "$steps")"
  echo "kiln  bf16 $("$build/bench/lm_train_bench" "$model" "$steps" --bf16)"
  echo "torch* bf16 $(GLIBC_TUNABLES=$best /usr/bin/python3 "$root/bench/torch_lm.py" "$model" "$steps" --bf16)"
done

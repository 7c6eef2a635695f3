#!/usr/bin/env bash
# ViT and MAE training throughput on Fashion-MNIST-sized batches (128 × 28×28)
# and BERT masked-LM throughput (64 × 64 tokens), kiln against PyTorch, same
# models, 2 threads, medians, after the frame (CPU, GEMM ceilings, PyTorch's
# BLAS; bench/frame.py); and the MAE encoder's speed-up from encoding only the
# visible 25% of the patches. torch*: PyTorch with huge-page malloc tunables.
# Usage: bench/vision_compare.sh [build-dir] [steps]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-"$root/build"}
steps=${2:-10}
. "$root/bench/frame.sh"
best="glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296"
for model in vit mae; do
  k=$("$build/bench/vit_train_bench" "$model" "$steps")
  row "$model train step vs torch" "$k" "$(/usr/bin/python3 "$root/bench/torch_vit.py" "$model" "$steps")"
  row "$model train step vs torch*" "$k" "$(GLIBC_TUNABLES=$best /usr/bin/python3 "$root/bench/torch_vit.py" "$model" "$steps")"
done
echo "kiln MAE encoder: $("$build/bench/vit_train_bench" encoder "$steps")"
k=$("$build/bench/bert_train_bench" "$steps")
row "bert train step vs torch" "$k" "$(/usr/bin/python3 "$root/bench/torch_bert.py" "$steps")"
row "bert train step vs torch*" "$k" "$(GLIBC_TUNABLES=$best /usr/bin/python3 "$root/bench/torch_bert.py" "$steps")"

#!/usr/bin/env bash
# ViT and MAE training throughput on Fashion-MNIST-sized batches (128 × 28×28)
# and BERT masked-LM throughput (64 × 64 tokens),
# kiln against PyTorch, same models, 2 threads, medians; and the MAE encoder's
# speed-up from encoding only the visible 25% of the patches.
# Usage: bench/vision_compare.sh [build-dir] [steps]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-"$root/build"}
steps=${2:-10}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
best="glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296"
for model in vit mae; do
  echo "kiln   $("$build/bench/vit_train_bench" "$model" "$steps")"
  echo "torch  $(/usr/bin/python3 "$root/bench/torch_vit.py" "$model" "$steps")"
  echo "torch* $(GLIBC_TUNABLES=$best /usr/bin/python3 "$root/bench/torch_vit.py" "$model" "$steps")"
done
echo "kiln   $("$build/bench/vit_train_bench" encoder "$steps")"
echo "kiln   $("$build/bench/bert_train_bench" "$steps")"
echo "torch  $(/usr/bin/python3 "$root/bench/torch_bert.py" "$steps")"
echo "torch* $(GLIBC_TUNABLES=$best /usr/bin/python3 "$root/bench/torch_bert.py" "$steps")"

#!/usr/bin/env bash
# DeepSeekMoE layer forward+backward, kiln against the naive PyTorch layer,
# same shapes, 2 threads, medians; then decoder training tokens/s of the
# dense KJV model against its MoE / MLA / MTP variants (same activated FFN
# width) and the KV-cache bytes per token of MHA, GQA and MLA. The frame
# (CPU, GEMM ceilings, PyTorch's BLAS; bench/frame.py) comes first.
# Usage: bench/moe_compare.sh [build-dir]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-"$root/build"}
. "$root/bench/frame.sh"
for shape in "2048 256 8 2 256 1" "2048 256 16 4 128 1" "4096 512 32 4 256 1"; do
  set -- $shape
  row "MoE layer T=$1 d=$2 E=$3 K=$4 w=$5 s=$6" "$("$build/bench/moe_layer_bench" $shape 10)" \
    "$(/usr/bin/python3 "$root/bench/torch_moe.py" $shape 10)"
done
for model in kjv kjv-moe kjv-mla kjv-deepseek; do
  echo "train $model: $("$build/bench/lm_train_bench" "$model" 10)"
done
"$build/bench/lm_train_bench" kv-cache

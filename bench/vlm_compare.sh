#!/usr/bin/env bash
# The vision-language model's training step (configs/kjv-ocr.toml sizes) on
# the same packs of OCR-shaped samples, kiln against PyTorch 1.13, in the
# rmpad layout, the padded one (text rows) and padded_all (text rows and
# images), 2 threads, medians, after the frame (CPU,
# GEMM ceilings, PyTorch's BLAS; bench/frame.py); then kiln's rmpad against
# its own padded layout (the speed-up from removing the padding); then the
# rmpad step in bf16 (kiln's train.precision = "bf16" as a user gets it,
# PyTorch's CPU autocast), unless PyTorch's bf16 matmul is hopeless here.
# PyTorch f32 runs as shipped and as torch*, with OPENBLAS_NUM_THREADS=1:
# this model's GEMMs are small (64–352 wide), and OpenBLAS's own threads
# made a step 2.7× slower than one thread on a 2-core Zen 4 (869 against
# 325 ms); its OpenMP ops keep both threads.
# Usage: bench/vlm_compare.sh [build-dir] [steps]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-"$root/build"}
steps=${2:-6}
. "$root/bench/frame.sh"
declare -A kiln
for layout in rmpad padded padded_all; do
  kiln[$layout]=$("$build/bench/vlm_layout_bench" "$layout" "$steps")
  echo "kiln  $layout: ${kiln[$layout]}"
  torch=$(/usr/bin/python3 "$root/bench/torch_vlm.py" "$layout" "$steps")
  echo "torch $layout: $torch"
  best=$(OPENBLAS_NUM_THREADS=1 /usr/bin/python3 "$root/bench/torch_vlm.py" "$layout" "$steps")
  echo "torch* $layout: $best"
  row "vlm $layout step vs torch" "${kiln[$layout]}" "$torch"
  row "vlm $layout step vs torch*" "${kiln[$layout]}" "$best"
done
row "vlm rmpad vs padded (kiln)" "${kiln[rmpad]}" "${kiln[padded]}" f32 rmpad padded
row "vlm rmpad vs padded_all (kiln)" "${kiln[rmpad]}" "${kiln[padded_all]}" f32 rmpad padded_all
k16=$("$build/bench/vlm_layout_bench" rmpad "$steps" --bf16)
echo "kiln  rmpad bf16: $k16"
if slow_gemm TORCH_BF16; then
  echo "vlm rmpad bf16 vs torch bf16: skipped, PyTorch's bf16 matmul runs at $TORCH_GEMM_BF16 GFLOP/s here"
else
  t16=$(/usr/bin/python3 "$root/bench/torch_vlm.py" rmpad "$steps" --bf16)
  echo "torch rmpad bf16: $t16"
  row "vlm rmpad bf16 step vs torch bf16" "$k16" "$t16" bf16
fi
row "vlm rmpad kiln bf16 against kiln f32" "$k16" "${kiln[rmpad]}" bf16 "bf16" " f32"

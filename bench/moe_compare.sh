#!/usr/bin/env bash
# DeepSeekMoE layer forward+backward, kiln against the naive PyTorch layer,
# same shapes, 2 threads, medians; then decoder training tokens/s of the
# dense KJV model against its MoE / MLA / MTP variants (same activated FFN
# width) and the KV-cache bytes per token of MHA, GQA and MLA.
# Usage: bench/moe_compare.sh [build-dir]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-"$root/build"}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
for shape in "2048 256 8 2 256 1" "2048 256 16 4 128 1" "4096 512 32 4 256 1"; do
  k=$("$build/bench/moe_layer_bench" $shape 10)
  t=$(/usr/bin/python3 "$root/bench/torch_moe.py" $shape 10)
  python3 - "$k" "$t" <<'PY'
import json, sys
k, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"MoE layer tokens={k['tokens']} d={k['d']} E={k['experts']} K={k['active']} width={k['width']} shared={k['shared']}: "
      f"kiln {k['ms']:.1f} ms, torch {t['ms']:.1f} ms, ratio {t['ms'] / k['ms']:.2f}x")
PY
done
for model in kjv kjv-moe kjv-mla kjv-deepseek; do
  echo "train $model: $("$build/bench/lm_train_bench" "$model" 10)"
done
"$build/bench/lm_train_bench" kv-cache

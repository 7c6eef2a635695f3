#!/usr/bin/env bash
# CPC training step time and online-detector latency per frame (OadTR, GRU
# baseline), kiln against PyTorch on the same models, medians, after the frame
# (CPU, GEMM ceilings, PyTorch's BLAS; bench/frame.py).
# Usage: bench/speech_compare.sh [build-dir] [repeats]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-"$root/build"}
repeats=${2:-10}
. "$root/bench/frame.sh"
row "cpc train step" "$("$build/bench/speech_bench" cpc "$repeats")" \
  "$(/usr/bin/python3 "$root/bench/torch_speech.py" cpc "$repeats")"
for model in oadtr gru; do
  row "$model latency per frame" "$("$build/bench/speech_bench" "$model" $((repeats * 20)))" \
    "$(/usr/bin/python3 "$root/bench/torch_speech.py" "$model" $((repeats * 20)))"
done

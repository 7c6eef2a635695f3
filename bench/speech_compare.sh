#!/usr/bin/env bash
# CPC training throughput (frames/s) and online-detector latency per frame
# (OadTR, GRU baseline), kiln against PyTorch on the same models, medians.
# Usage: bench/speech_compare.sh [build-dir] [repeats]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-"$root/build"}
repeats=${2:-10}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
echo "kiln   $("$build/bench/speech_bench" cpc "$repeats")"
echo "torch  $(/usr/bin/python3 "$root/bench/torch_speech.py" cpc "$repeats")"
for model in oadtr gru; do
  echo "kiln   $("$build/bench/speech_bench" "$model" $((repeats * 20)))"
  echo "torch  $(/usr/bin/python3 "$root/bench/torch_speech.py" "$model" $((repeats * 20)))"
done

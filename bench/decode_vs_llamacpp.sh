#!/usr/bin/env bash
# Decoding speed of `kiln generate` against llama.cpp (node-llama-cpp 3.21.1's
# CPU binaries, as bench/llamacpp_check.sh installs them) on the same model
# and the same ids: prompt processing (tokens/s for a 128-token prompt, one
# pass, first token included) and generation (tokens/s over 128 greedy
# decoding steps, past the end of document), f32 weights and f32 KV cache on
# both sides, the same thread count (THREADS, default 1: with another process
# busy on one of two cores, 2-thread OpenMP runs slow down many times over).
# Each engine runs REPEATS times (default 3), the median is printed.
# Models: the KJV decoder (RUN, default runs/kjv; bench/llamacpp_check.sh
# trains it when missing) and a GPT-2 124M-shaped model with random weights
# (bench/gpt2_random_hf.py, imported with kiln import hf into runs/gpt2-124m-random).
# Usage: bench/decode_vs_llamacpp.sh [RUN]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
run=${1:-runs/kjv}
threads=${THREADS:-1}
repeats=${REPEATS:-3}
export LLAMACPP_THREADS=$threads LLAMACPP_MODULES=${LLAMACPP_MODULES:-$root/build-llamacpp}
kiln=build/kiln
[[ -x $kiln ]] || { echo "decode_vs_llamacpp: build kiln first (ninja -C build kiln)" >&2; exit 1; }
[[ -e $run/checkpoints/latest && -d $LLAMACPP_MODULES/node_modules/node-llama-cpp ]] || bench/llamacpp_check.sh "$run"
gpt2=runs/gpt2-124m-random
if [[ ! -e $gpt2/checkpoints/latest ]]; then
  rm -rf "$gpt2-hf"
  /usr/bin/python3 bench/gpt2_random_hf.py "$run/checkpoints/latest/tokenizer/tokenizer.model" "$gpt2-hf"
  $kiln import hf "$gpt2-hf" -o "$gpt2"
fi
median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
field() { /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

echo "== CPU: $(lscpu | sed -n 's/^Model name: *//p'), $threads thread(s) for kiln and llama.cpp, median of $repeats runs"
printf '\n%-22s %-10s %14s %14s\n' model engine "prompt tok/s" "generate tok/s"
for model in "$run" "$gpt2"; do
  out=$model/decode-bench
  mkdir -p "$out"
  # 128 ids of the KJV test split, without </s> (a prompt, not a document end).
  head -n 40 data/kjv/test.txt | $kiln tokenizer encode --ids "$model/checkpoints/latest/tokenizer" \
    | tr -s ' \n' '\n\n' | grep -vx 2 | awk 'NR <= 128' | tr '\n' ' ' > "$out/prompt.txt"
  [[ -f $out/model-f32.gguf ]] || $kiln export gguf "$model" --type f32 -o "$out/model-f32.gguf" > /dev/null
  kiln_prompt=() kiln_generate=() llama_prompt=() llama_generate=()
  for _ in $(seq "$repeats"); do
    stats=$(OMP_NUM_THREADS=$threads $kiln generate "$model" --prompt-ids "$out/prompt.txt" -n 129 -t 0 --ignore-eos \
      --stats 2>&1 >/dev/null | grep '^prompt:')
    kiln_prompt+=("$(sed -E 's/.* tokens in [0-9.]+ s \(([0-9.]+) tokens\/s, first.*/\1/' <<< "$stats")")
    kiln_generate+=("$(sed -E 's/.*decoding steps in [0-9.]+ s \(([0-9.]+) tokens\/s.*/\1/' <<< "$stats")")
    result=$(node bench/llamacpp_check.mjs speed "$out/model-f32.gguf" "$(cat "$out/prompt.txt")" 128)
    [[ $(field "$result" generated) == 128 ]] || { echo "llama.cpp stopped early: $result" >&2; exit 1; }
    llama_prompt+=("$(field "$result" prompt_tokens_per_s)")
    llama_generate+=("$(field "$result" generate_tokens_per_s)")
  done
  name=$(basename "$model")
  kp=$(printf '%s\n' "${kiln_prompt[@]}" | median) kg=$(printf '%s\n' "${kiln_generate[@]}" | median)
  lp=$(printf '%s\n' "${llama_prompt[@]}" | median) lg=$(printf '%s\n' "${llama_generate[@]}" | median)
  printf '%-22s %-10s %14.1f %14.1f\n' "$name" kiln "$kp" "$kg"
  printf '%-22s %-10s %14.1f %14.1f\n' "$name" llama.cpp "$lp" "$lg"
  printf '%-22s %-10s %14.2f %14.2f\n' "$name" "kiln/llama" "$(awk -v a="$kp" -v b="$lp" 'BEGIN {print a / b}')" \
    "$(awk -v a="$kg" -v b="$lg" 'BEGIN {print a / b}')"
done

#!/usr/bin/env bash
# kiln's GGUF export against the real consumer, llama.cpp (through the npm
# package node-llama-cpp 3.21.1 and the CPU binaries it ships; not part of the
# test suite because it needs npm):
#   1. installs node-llama-cpp into build-llamacpp/ (ignored by git) unless present;
#   2. takes a trained KJV run (default runs/kjv; trained with configs/kjv.toml
#      when missing, KJV_STEPS steps, default the config's 1,500);
#   3. scores the first 128 token ids of the KJV test split with
#      `kiln eval --tokens --logprobs` and, from each GGUF export (f32, f16, bf16,
#      q8_0), with llama.cpp (f32 KV cache, flash attention off), and prints the
#      largest log-probability difference over every position and vocabulary
#      entry and both perplexities;
#   4. checks that llama.cpp's tokenizer gives kiln's ids for a verse, and
#      generates text with llama.cpp: greedy (compared with kiln generate -t 0)
#      and sampled.
# Usage: bench/llamacpp_check.sh [RUN]     (LLAMACPP_THREADS, default 1, for both engines)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
run=${1:-runs/kjv}
threads=${LLAMACPP_THREADS:-1}
export LLAMACPP_THREADS=$threads LLAMACPP_MODULES=${LLAMACPP_MODULES:-$root/build-llamacpp}
kiln=build/kiln
check() { node bench/llamacpp_check.mjs "$@"; }
field() { /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

[[ -x $kiln ]] || { echo "llamacpp_check: build kiln first (ninja -C build kiln)" >&2; exit 1; }
if [[ ! -d $LLAMACPP_MODULES/node_modules/node-llama-cpp ]]; then
  echo "== installing node-llama-cpp 3.21.1 into $LLAMACPP_MODULES"
  mkdir -p "$LLAMACPP_MODULES"
  [[ -f $LLAMACPP_MODULES/package.json ]] || echo '{"private": true}' > "$LLAMACPP_MODULES/package.json"
  (cd "$LLAMACPP_MODULES" && npm i -E --no-audit --no-fund node-llama-cpp@3.21.1)
fi
[[ -f data/kjv/test.txt ]] || scripts/prepare-kjv.sh
if [[ ! -e $run/checkpoints/latest ]]; then
  echo "== training configs/kjv.toml into $run (${KJV_STEPS:-1500} steps)"
  $kiln train -c configs/kjv.toml --set run.dir="$run" ${KJV_STEPS:+--set train.steps=$KJV_STEPS}
fi
tokenizer=$run/checkpoints/latest/tokenizer
out=$run/llamacpp-check
mkdir -p "$out"
echo "== CPU: $(lscpu | sed -n 's/^Model name: *//p'), $threads thread(s) for kiln and llama.cpp"

# The first 128 ids of the test split, verses joined as training joins them (each ended by </s>).
head -n 40 data/kjv/test.txt | $kiln tokenizer encode --ids "$tokenizer" | tr -s ' \n' '\n\n' | awk 'NR <= 128' \
  | tr '\n' ' ' > "$out/tokens.txt"
OMP_NUM_THREADS=$threads $kiln eval "$run" --tokens "$out/tokens.txt" --logprobs "$out/kiln.json"

printf '\n%-6s %14s %16s %14s %12s\n' type "max |Δlogprob|" "max |Δ| next id" "ppl llama.cpp" "ppl kiln"
for type in f32 f16 bf16 q8_0; do
  $kiln export gguf "$run" --type "$type" -o "$out/model-$type.gguf" > /dev/null
  result=$(check logprobs "$out/model-$type.gguf" "$out/kiln.json" "$out/llamacpp-$type.logprobs.json")
  printf '%-6s %14.3g %16.3g %14.6f %12.6f\n' "$type" "$(field "$result" max_abs_logprob_diff)" \
    "$(field "$result" max_abs_next_token_diff)" "$(field "$result" llamacpp_ppl)" "$(field "$result" kiln_ppl)"
  echo "$result" > "$out/llamacpp-$type.json"
done

echo
verse=$(sed -n 2p data/kjv/test.txt)
kiln_ids=$($kiln tokenizer encode --ids "$tokenizer" <<< "$verse" | awk '{NF--; print}')
llama_ids=$(check tokenize "$out/model-f32.gguf" "$verse")
if [[ $kiln_ids == "$llama_ids" ]]; then
  echo "tokenizer: llama.cpp gives kiln's $(wc -w <<< "$kiln_ids") ids for \"$verse\""
else
  echo "tokenizer: ids DIFFER for \"$verse\""; echo "  kiln:      $kiln_ids"; echo "  llama.cpp: $llama_ids"
fi

prompt="and god said"
prompt_ids=$($kiln tokenizer encode --ids "$tokenizer" <<< "$prompt" | awk '{NF--; print}')
greedy=$(check generate "$out/model-f32.gguf" "$prompt_ids" 40 0)
kiln_greedy=$(OMP_NUM_THREADS=$threads $kiln generate "$run" -p "$prompt" -n 40 -t 0)
echo "llama.cpp greedy: $(field "$greedy" text)"
echo "kiln greedy:      $kiln_greedy"
[[ $(field "$greedy" text) == "$kiln_greedy" ]] && echo "greedy continuations: identical" || echo "greedy continuations: DIFFER"
for seed_temperature in 0.8; do
  sampled=$(check generate "$out/model-f32.gguf" "$prompt_ids" 40 "$seed_temperature")
  echo "llama.cpp sampled (temperature $seed_temperature, top-k 40): $(field "$sampled" text)"
done

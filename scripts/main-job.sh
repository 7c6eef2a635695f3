#!/usr/bin/env bash
# The main job, from a fresh clone on Debian 12:
#   1. install the Debian packages kiln needs (scripts/install-deps.sh);
#   2. build kiln (Release);
#   3. prepare the KJV Bible from the bible-kjv package (scripts/prepare-kjv.sh);
#   4. train the default decoder LM, configs/kjv.toml (README: times measured per CPU);
#   5. compare its validation perplexity with a 5-gram Kneser-Ney model built on
#      the same training split and the same tokens;
#   6. print samples.
# Extra arguments go to `kiln train`, e.g. --set train.steps=300 for a shorter run.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
started=$(date +%s)
# Each phase says what it does and how long the job has run, so a long first
# run (package downloads, a C++ build) never looks hung.
phase() { echo "== [$(( ($(date +%s) - started) / 60 ))m $(( ($(date +%s) - started) % 60 ))s] $*"; }

phase "installing Debian packages (first run: several minutes, apt prints its progress)"
scripts/install-deps.sh
phase "building kiln (first run: several minutes on 2 cores, ninja prints [done/total])"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build kiln
phase "preparing the KJV Bible"
scripts/prepare-kjv.sh
run=runs/kjv
phase "training configs/kjv.toml into $run (a progress bar, or a line every 10 steps when piped; validation every 250)"
rm -rf "$run"
build/kiln train -c configs/kjv.toml --set run.dir="$run" "$@"

phase "the same split and tokens with a 5-gram model (interpolated modified Kneser-Ney)"
tokenizer="$run/checkpoints/latest/tokenizer"
build/kiln tokenizer encode "$tokenizer" data/kjv/train.txt > "$run/train.pieces"
build/kiln tokenizer encode "$tokenizer" data/kjv/valid.txt > "$run/valid.pieces"
build/kiln ngram build --order 5 "$run/train.pieces" -o "$run/ngram5.arpa" 2> "$run/ngram-build.log"
ngram_ppl=$(build/kiln ngram query -s "$run/ngram5.arpa" "$run/valid.pieces" | awk -F'\t' '/including/ {print $2}')
ngram_tokens=$(build/kiln ngram query -s "$run/ngram5.arpa" "$run/valid.pieces" | awk -F'\t' '/Tokens/ {print $2}')
lm_line=$(build/kiln eval "$run" --text data/kjv/valid.txt)
lm_ppl=$(echo "$lm_line" | sed -E 's/.*perplexity ([0-9.]+).*/\1/')
lm_tokens=$(echo "$lm_line" | sed -E 's/.*: ([0-9]+) tokens scored.*/\1/')
echo
printf '%-44s %12s %10s\n' "validation split (KJV test verses)" "perplexity" "tokens"
printf '%-44s %12.2f %10s\n' "decoder LM (configs/kjv.toml)" "$lm_ppl" "$lm_tokens"
printf '%-44s %12.2f %10s\n' "5-gram modified Kneser-Ney, same tokens" "$ngram_ppl" "$ngram_tokens"
echo "(per SentencePiece token, end of verse included; lower is better)"

echo
phase "samples"
for prompt in "in the beginning" "and the lord said unto moses ," "blessed are the"; do
  build/kiln generate "$run" --prompt "$prompt" --max-tokens 40 --temperature 0.8 --top-k 40 --seed 7
done
phase "done"

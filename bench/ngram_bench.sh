#!/usr/bin/env bash
# n-gram toolkit figures on the full KJV training split (scripts/prepare-kjv.sh):
# build time and peak memory for orders 3 and 5, binary size and load time,
# query throughput from ARPA and from the binary. Each figure is the fastest of
# three runs (the machine may be shared).
#
#   bench/ngram_bench.sh [build-dir]
#   KENLM_BIN=/path/to/kenlm/build/bin bench/ngram_bench.sh build   # also KenLM, side by side
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
kiln=$(cd "${1:-$root/build}" && pwd)/kiln
kenlm=${KENLM_BIN:-}
data="$root/data/kjv"
[[ -f $data/train.txt ]] || "$root/scripts/prepare-kjv.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The query text: the test split repeated until it is about a million tokens.
for _ in $(seq 10); do cat "$data/test.txt"; done > "$work/query.txt"
head -1 "$data/test.txt" > "$work/one.txt"
tokens=$(( $(wc -w < "$work/query.txt") + $(wc -l < "$work/query.txt") ))  # words + one </s> per line

# best <runs> <command...>: prints "<seconds> <peak KiB>" of the fastest run.
best() {
  local runs=$1 out=""
  shift
  for _ in $(seq "$runs"); do
    /usr/bin/time -f "%e %M" -o "$work/time" "$@" > /dev/null 2> "$work/stderr" || { cat "$work/stderr" >&2; exit 1; }
    out+=$(cat "$work/time")$'\n'
  done
  sed "/^$/d" <<< "$out" | sort -n | head -1
}
seconds() { cut -d' ' -f1 <<< "$1"; }
mib() { awk '{printf "%.0f", $2 / 1024}' <<< "$1"; }
rate() { awk -v t="$tokens" -v s="$1" 'BEGIN { printf "%.2f", t / s / 1e6 }'; }
# per_run_ms <command...>: mean wall time of 20 runs in ms (process start included).
per_run_ms() {
  local start end
  start=$(date +%s%N)
  for _ in $(seq 20); do "$@" > /dev/null 2>&1; done
  end=$(date +%s%N)
  awk -v ns=$((end - start)) 'BEGIN { printf "%.1f", ns / 20 / 1e6 }'
}

echo "corpus: $(wc -l < "$data/train.txt") lines, $(wc -w < "$data/train.txt") words; query text: $tokens tokens"
for order in 3 5; do
  r=$(best 3 "$kiln" ngram build --order "$order" --memory 256M "$data/train.txt" -o "$work/o$order.arpa")
  echo "kiln  order $order build --memory 256M: $(seconds "$r") s, $(mib "$r") MiB peak"
  "$kiln" ngram compile "$work/o$order.arpa" -o "$work/o$order.kbin" 2> /dev/null
  echo "kiln  order $order files: ARPA $(du -m "$work/o$order.arpa" | cut -f1) MB, binary $(du -m "$work/o$order.kbin" | cut -f1) MB"
  r=$(best 3 "$kiln" ngram compile "$work/o$order.arpa" -o "$work/again.kbin")
  echo "kiln  order $order compile: $(seconds "$r") s"
  for model in arpa kbin; do
    full=$(best 3 "$kiln" ngram query -s "$work/o$order.$model" "$work/query.txt")
    load=$(best 3 "$kiln" ngram query -s "$work/o$order.$model" "$work/one.txt")
    echo "kiln  order $order query from $model: $(rate "$(seconds "$full")") M tokens/s with load," \
      "load + one sentence $(seconds "$load") s, $(mib "$full") MiB peak"
  done
  echo "kiln  order $order binary load + one sentence: $(per_run_ms "$kiln" ngram query -s "$work/o$order.kbin" "$work/one.txt") ms per run"
  [[ -n $kenlm ]] || continue
  r=$(best 3 "$kenlm/lmplz" -o "$order" -S 256M -T "$work" --text "$data/train.txt" --arpa "$work/k$order.arpa")
  echo "KenLM order $order lmplz -S 256M: $(seconds "$r") s, $(mib "$r") MiB peak"
  "$kenlm/build_binary" probing "$work/k$order.arpa" "$work/k$order.probing" > /dev/null 2>&1
  echo "KenLM order $order probing binary $(du -m "$work/k$order.probing" | cut -f1) MB"
  for model in arpa probing; do
    full=$(best 3 sh -c "'$kenlm/query' -v summary '$work/k$order.$model' < '$work/query.txt'")
    load=$(best 3 sh -c "'$kenlm/query' -v summary '$work/k$order.$model' < '$work/one.txt'")
    echo "KenLM order $order query from $model: $(rate "$(seconds "$full")") M tokens/s with load," \
      "load + one sentence $(seconds "$load") s, $(mib "$full") MiB peak"
  done
  echo "KenLM order $order binary load + one sentence: $(per_run_ms sh -c "'$kenlm/query' -v summary '$work/k$order.probing' < '$work/one.txt'") ms per run"
done

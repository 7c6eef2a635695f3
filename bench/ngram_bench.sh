#!/usr/bin/env bash
# n-gram toolkit figures on the full KJV training split (scripts/prepare-kjv.sh):
# build time and peak memory for orders 3 and 5, binary size and load time,
# query throughput from ARPA and from the binary. Usage: bench/ngram_bench.sh [build-dir]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
kiln=${1:-"$root/build"}/kiln
data="$root/data/kjv"
[[ -f $data/train.txt ]] || "$root/scripts/prepare-kjv.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The query text: the test split repeated until it is about a million words.
for _ in $(seq 10); do cat "$data/test.txt"; done > "$work/query.txt"
words=$(wc -w < "$work/query.txt")
lines=$(wc -l < "$work/query.txt")
tokens=$((words + lines))
measure() {  # prints "<seconds> <peak MiB>" for a command
  /usr/bin/time -f "%e %M" "$@" 2> "$work/time" > /dev/null || { cat "$work/time" >&2; exit 1; }
  tail -1 "$work/time" | awk '{printf "%.2f s, %.0f MiB peak\n", $1, $2 / 1024}'
}
for order in 3 5; do
  echo "order $order build (--memory 256M): $(measure "$kiln" ngram build --order "$order" --memory 256M "$data/train.txt" -o "$work/o$order.arpa")"
  "$kiln" ngram compile "$work/o$order.arpa" -o "$work/o$order.kbin" 2> /dev/null
  echo "order $order binary: $(du -h "$work/o$order.kbin" | cut -f1), ARPA $(du -h "$work/o$order.arpa" | cut -f1)"
  for model in arpa kbin; do
    start=$(date +%s.%N)
    "$kiln" ngram query -s "$work/o$order.$model" "$work/query.txt" > /dev/null
    end=$(date +%s.%N)
    echo "order $order query from $model: $tokens tokens in $(echo "$end - $start" | bc) s ($(echo "$tokens / ($end - $start)" | bc) tokens/s, load included)"
  done
  echo "" > "$work/empty.txt"
  echo "a" > "$work/one.txt"
  start=$(date +%s.%N); "$kiln" ngram query -s "$work/o$order.kbin" "$work/one.txt" > /dev/null; end=$(date +%s.%N)
  echo "order $order binary load + one sentence: $(echo "($end - $start) * 1000" | bc) ms"
  start=$(date +%s.%N); "$kiln" ngram query -s "$work/o$order.arpa" "$work/one.txt" > /dev/null; end=$(date +%s.%N)
  echo "order $order ARPA load + one sentence: $(echo "($end - $start) * 1000" | bc) ms"
done

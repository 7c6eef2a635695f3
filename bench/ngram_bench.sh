#!/usr/bin/env bash
# n-gram toolkit figures on the KJV training split (scripts/prepare-kjv.sh) or
# on the scale corpus (scripts/prepare-scale-corpus.sh), with KenLM side by
# side when KENLM_BIN names the folder of its lmplz, build_binary and query:
# build time and peak memory at two --memory caps, compile time, peak and
# size, query throughput from the binary and load time, each as kiln, KenLM
# and their ratio. Each time is the best of RUNS runs (default 3; the machine
# may be shared); load time is the mean of 20 runs of a one-sentence query,
# next to the mean of 20 process starts without a model.
#
#   bench/ngram_bench.sh [build-dir] [kjv|scale]
#   KENLM_BIN=/path/to/kenlm/build/bin bench/ngram_bench.sh build scale
#   RUNS=5 ORDERS="3 5" bench/ngram_bench.sh build kjv
#
# The query text is the KJV test split repeated 40 times (about 3.8 million
# tokens, </s> included) for both corpora.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
kiln=$(cd "${1:-$root/build}" && pwd)/kiln
corpus_name=${2:-kjv}
kenlm=${KENLM_BIN:-}
runs=${RUNS:-3}
case $corpus_name in
  kjv) corpus="$root/data/kjv/train.txt"; orders=${ORDERS:-3 5}
       [[ -f $corpus ]] || "$root/scripts/prepare-kjv.sh" ;;
  scale) corpus="$root/data/scale/corpus.txt"; orders=${ORDERS:-5}
         [[ -f $corpus ]] || "$root/scripts/prepare-scale-corpus.sh" ;;
  *) echo "ngram_bench: corpus must be kjv or scale, got '$corpus_name'" >&2; exit 1 ;;
esac
[[ -f $root/data/kjv/test.txt ]] || "$root/scripts/prepare-kjv.sh"
if [[ -n $kenlm ]]; then
  for tool in lmplz build_binary query; do
    [[ -x $kenlm/$tool ]] || { echo "ngram_bench: $kenlm/$tool is missing (KENLM_BIN)" >&2; exit 1; }
  done
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/ngram_bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
for _ in $(seq 40); do cat "$root/data/kjv/test.txt"; done > "$work/query.txt"
head -1 "$root/data/kjv/test.txt" > "$work/one.txt"
tokens=$(( $(wc -w < "$work/query.txt") + $(wc -l < "$work/query.txt") ))  # words + one </s> per line

# best <command...>: "<seconds> <peak KiB>" of the fastest of $runs runs.
# Each run starts after `sync`: otherwise it pays for writing back the
# gigabyte of files the run before it left dirty (seen: kiln 19 s after a
# pause, 22.5 s right after lmplz), and the order of the tools decides.
best() {
  local out=""
  for _ in $(seq "$runs"); do
    sync
    /usr/bin/time -f "%e %M" -o "$work/time" "$@" > /dev/null 2> "$work/stderr" || { cat "$work/stderr" >&2; exit 1; }
    out+=$(cat "$work/time")$'\n'
  done
  sed "/^$/d" <<< "$out" | sort -n | head -1
}
seconds() { cut -d' ' -f1 <<< "$1"; }
mib() { awk '{printf "%.0f", $2 / 1024}' <<< "$1"; }
rate() { awk -v t="$tokens" -v s="$1" 'BEGIN { printf "%.2f", t / s / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mb() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f", b / 1e6 }'; }
# per_run_ms <command...>: mean wall time of 20 runs in ms (process start included).
per_run_ms() {
  local start end
  start=$(date +%s%N)
  for _ in $(seq 20); do "$@" > /dev/null 2> "$work/stderr" || { cat "$work/stderr" >&2; exit 1; }; done
  end=$(date +%s%N)
  awk -v ns=$((end - start)) 'BEGIN { printf "%.1f", ns / 20 / 1e6 }'
}
# row <what> <kiln figures> [<KenLM figures> <ratio>]
row() {
  if [[ -n $kenlm ]]; then printf '%-40s | kiln %-22s | KenLM %-22s | %s\n' "$1" "$2" "$3" "$4"
  else printf '%-40s | kiln %s\n' "$1" "$2"; fi
}

echo "CPU: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1), $(nproc) cores; $(date -u +%Y-%m-%d)"
echo "corpus $corpus_name: $(wc -l < "$corpus") lines, $(wc -w < "$corpus") words; query text: $tokens tokens"
echo "times: best of $runs; ratios: KenLM time / kiln time (above 1: kiln faster), kiln / KenLM for memory and size"
for order in $orders; do
  for cap in 256M 1G; do
    k=$(best "$kiln" ngram build --order "$order" --memory "$cap" --temp-dir "$work" "$corpus" -o "$work/o$order.arpa")
    if [[ -n $kenlm ]]; then
      l=$(best "$kenlm/lmplz" -o "$order" -S "$cap" -T "$work" --text "$corpus" --arpa "$work/k$order.arpa")
      row "order $order build, cap $cap" "$(seconds "$k") s, $(mib "$k") MiB" "$(seconds "$l") s, $(mib "$l") MiB" \
        "speed $(ratio "$(seconds "$l")" "$(seconds "$k")")x, memory $(ratio "$(mib "$k")" "$(mib "$l")")x"
    else
      row "order $order build, cap $cap" "$(seconds "$k") s, $(mib "$k") MiB"
    fi
  done
  k=$(best "$kiln" ngram compile "$work/o$order.arpa" -o "$work/o$order.kbin")
  if [[ -n $kenlm ]]; then
    l=$(best "$kenlm/build_binary" probing "$work/k$order.arpa" "$work/k$order.probing")
    row "order $order compile" "$(seconds "$k") s, $(mib "$k") MiB" "$(seconds "$l") s, $(mib "$l") MiB" \
      "speed $(ratio "$(seconds "$l")" "$(seconds "$k")")x, memory $(ratio "$(mib "$k")" "$(mib "$l")")x"
    row "order $order ARPA / binary size (MB)" "$(mb "$work/o$order.arpa") / $(mb "$work/o$order.kbin")" \
      "$(mb "$work/k$order.arpa") / $(mb "$work/k$order.probing")" \
      "binary $(ratio "$(mb "$work/o$order.kbin")" "$(mb "$work/k$order.probing")")x"
  else
    row "order $order compile" "$(seconds "$k") s, $(mib "$k") MiB"
    row "order $order ARPA / binary size (MB)" "$(mb "$work/o$order.arpa") / $(mb "$work/o$order.kbin")"
  fi
  k=$(best "$kiln" ngram query -s "$work/o$order.kbin" "$work/query.txt")
  kl=$(per_run_ms "$kiln" ngram query -s "$work/o$order.kbin" "$work/one.txt")
  ks=$(per_run_ms "$kiln" --help)
  if [[ -n $kenlm ]]; then
    l=$(best sh -c "'$kenlm/query' -v summary '$work/k$order.probing' < '$work/query.txt'")
    ll=$(per_run_ms sh -c "'$kenlm/query' -v summary '$work/k$order.probing' < '$work/one.txt'")
    lstart=$(per_run_ms sh -c "'$kenlm/query' < /dev/null || true")  # usage, exit 1
    row "order $order query, binary (M tokens/s)" "$(rate "$(seconds "$k")"), $(mib "$k") MiB" \
      "$(rate "$(seconds "$l")"), $(mib "$l") MiB" "speed $(ratio "$(seconds "$l")" "$(seconds "$k")")x"
    row "order $order load + one sentence (ms)" "$kl (start alone $ks)" "$ll (start alone $lstart)" \
      "$(ratio "$ll" "$kl")x; less start: $(ratio "$(awk -v a="$ll" -v b="$lstart" 'BEGIN{print a-b}')" \
        "$(awk -v a="$kl" -v b="$ks" 'BEGIN{print a-b}')")x"
  else
    row "order $order query, binary (M tokens/s)" "$(rate "$(seconds "$k")"), $(mib "$k") MiB"
    row "order $order load + one sentence (ms)" "$kl (start alone $ks)"
  fi
done

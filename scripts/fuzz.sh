#!/usr/bin/env bash
# Fuzzes kiln's file readers with libFuzzer (clang, AddressSanitizer and
# UndefinedBehaviorSanitizer); docs/testing.md says what each target reads.
#   scripts/fuzz.sh                       every target for 60 s
#   scripts/fuzz.sh TARGET [SECONDS]      one target (e.g. arpa_fuzz 1800)
#   scripts/fuzz.sh --smoke [SECONDS]     every target briefly (default 15 s), as CI runs it
#   scripts/fuzz.sh --list                the targets
# Builds into build-fuzz/ with clang++; seeds (small valid files written by
# kiln itself) go to build-fuzz/seeds/<target>/, the growing corpus to
# build-fuzz/corpus/<target>/, and any crashing input to build-fuzz/crashes/.
# Exits non-zero when a target crashes, leaks, hangs (10 s) or exceeds 4 GiB.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build=${KILN_FUZZ_BUILD:-build-fuzz}
jobs=${KILN_JOBS:-$(nproc)}

targets=(safetensors_fuzz model_config_json_fuzz toml_config_fuzz arpa_fuzz kbin_fuzz idx_fuzz image_file_fuzz
         wav_fuzz token_shard_fuzz wordpiece_vocab_fuzz tokenizer_config_fuzz hf_config_fuzz
         sentencepiece_model_fuzz)
dictionary_of() {
  case "$1" in
    toml_config_fuzz) echo "-dict=fuzz/dicts/toml.dict" ;;
    model_config_json_fuzz | tokenizer_config_fuzz | hf_config_fuzz) echo "-dict=fuzz/dicts/json.dict" ;;
  esac
}

selected=("${targets[@]}")
seconds=60
case "${1:-}" in
  --list) printf '%s\n' "${targets[@]}"; exit 0 ;;
  --smoke) seconds=${2:-15} ;;
  "") ;;
  *) selected=("$1"); seconds=${2:-60}
     [[ " ${targets[*]} " == *" $1 "* ]] || { echo "fuzz.sh: unknown target '$1' (--list shows them)" >&2; exit 2; } ;;
esac

if ! command -v clang++ >/dev/null; then
  echo "fuzz.sh: clang++ is missing; install it with: sudo apt-get install clang-14 libclang-rt-14-dev libomp-14-dev" >&2
  exit 2
fi
echo "== fuzz build (clang, address + undefined + fuzzer coverage) in $build"
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKILN_FUZZ=ON \
  -DKILN_BUILD_BENCH=OFF >/dev/null
ninja -C "$build" -j "$jobs" fuzz_targets
"$build/fuzz/fuzz_write_seeds" "$root" "$build/seeds" >/dev/null
mkdir -p "$build/crashes"

failed=0
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for target in "${selected[@]}"; do
  mkdir -p "$build/corpus/$target"
  log="$build/$target.log"
  # shellcheck disable=SC2046
  if "$build/fuzz/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
       -artifact_prefix="$build/crashes/$target-" $(dictionary_of "$target") \
       "$build/corpus/$target" "$build/seeds/$target" >"$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    printf '%-24s ok      %10s executions in %s s\n' "$target" "$runs" "$seconds"
  else
    failed=1
    printf '%-24s FAILED  (see %s; the input is in %s/crashes/)\n' "$target" "$log" "$build"
    grep -E "ERROR|SUMMARY|terminate|what\(\)" "$log" | head -5 || true
  fi
done
exit $failed

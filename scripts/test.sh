#!/usr/bin/env bash
# The whole test suite, as CI runs it:
#   1. a Release build and every test except those labelled `slow`;
#   2. a clang build with AddressSanitizer + UndefinedBehaviorSanitizer (and
#      libFuzzer's coverage): the core engine tests (label `core`), then a
#      short run of every fuzz target of fuzz/ (scripts/fuzz.sh --smoke).
# Tests labelled `slow` and the benchmarks run with bench/run.sh, not here.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
jobs=${KILN_JOBS:-$(nproc)}

echo "== release build"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build -j "$jobs"
echo "== release tests"
ctest --test-dir build -LE slow --output-on-failure -j "$jobs"

echo "== sanitizer build (clang: address, undefined, fuzzer coverage)"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKILN_FUZZ=ON \
  -DKILN_BUILD_BENCH=OFF >/dev/null
ninja -C build-fuzz -j "$jobs" core_tests fuzz_targets
echo "== sanitizer tests"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-fuzz -L core -LE slow --output-on-failure -j "$jobs"
echo "== fuzz smoke run (every target on its seeds, briefly)"
scripts/fuzz.sh --smoke 10
echo "== all tests passed"

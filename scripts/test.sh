#!/usr/bin/env bash
# The whole test suite, as CI runs it:
#   1. a Release build and every test except those labelled `slow`;
#   2. an AddressSanitizer + UndefinedBehaviorSanitizer build of the core
#      engine tests (label `core`).
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

echo "== sanitizer build (address, undefined)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKILN_SANITIZE=ON -DKILN_BUILD_BENCH=OFF >/dev/null
ninja -C build-asan -j "$jobs" core_tests
echo "== sanitizer tests"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan -L core -LE slow --output-on-failure -j "$jobs"
echo "== all tests passed"

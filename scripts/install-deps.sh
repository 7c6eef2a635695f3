#!/usr/bin/env bash
# Installs every Debian 12 package kiln needs to build, test and run its
# bundled jobs. Idempotent: packages already present are skipped, and the
# package index is refreshed at most once per run (only if something is missing).
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build pkg-config git
  # the sanitizer build and the fuzz targets (libFuzzer is part of clang's runtime library)
  clang clang-14 libclang-rt-14-dev libomp-14-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # math and threads. Debian builds oneDNN with its OpenCL GPU runtime, so
  # dnnl-config.cmake calls find_package(OpenCL REQUIRED): the OpenCL loader's
  # development files and headers must be there for CMake to configure at all.
  libdnnl-dev ocl-icd-opencl-dev opencl-c-headers
  # files, text, program, audio (libsndfile for WAV; espeak-ng synthesises the speech sets)
  nlohmann-json3-dev libtomlplusplus-dev libcli11-dev libfmt-dev libspdlog-dev zlib1g-dev libsentencepiece-dev libstb-dev
  espeak-ng libespeak-ng-dev libsndfile1-dev
  # distributed training (optional at build time; the suite runs its MPI tests with it)
  libopenmpi-dev openmpi-bin procps
  # reference implementation for tests (run with /usr/bin/python3). Debian's
  # PyTorch multiplies f32 through whatever libblas.so.3 is installed; without
  # OpenBLAS that is the unoptimised reference BLAS (~3 GFLOP/s), which makes
  # reference generation slow and every f32 PyTorch benchmark figure meaningless.
  python3 python3-numpy python3-torch libopenblas0-pthread
  # bundled data (DejaVu Sans renders the KJV OCR lines)
  bible-kjv bible-kjv-text fortunes-zh dataset-fashion-mnist fonts-dejavu-core
  # benchmarks (bench/)
  time bc
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
echo "install-deps: installing ${missing[*]}"
"${sudo_cmd[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"

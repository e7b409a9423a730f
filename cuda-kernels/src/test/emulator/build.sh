#!/usr/bin/env bash
# Compiles src/main/cuda/fingerspell.cu for the host (cuda_host.h maps CUDA's built-ins), into the
# library EmulatedKernelsTest runs the CUDA backend on. No g++: nothing is built and that test
# skips. Maven runs this before the tests; by hand: build.sh OUTPUT.so
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:?usage: build.sh OUTPUT.so}
if ! command -v g++ >/dev/null; then
  echo "emulator: g++ not found; EmulatedKernelsTest will skip" >&2
  exit 0
fi
mkdir -p "$(dirname "$out")"
g++ -std=c++17 -O1 -g -shared -fPIC -Wall -Wno-unknown-pragmas -Wno-sign-compare -include "$here/cuda_host.h" \
  -x c++ "$here/../../main/cuda/fingerspell.cu" -o "$out.tmp"
mv "$out.tmp" "$out"

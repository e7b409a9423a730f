#!/usr/bin/env bash
# Builds stub_driver.cpp (a pretend libcuda.so.1 running our kernels on the host) into
# OUTPUT_DIR/libcuda.so.1, for StubDriverTest, and beside it stub_cudnn.cpp and stub_cublas.cpp
# (pretend libcudnn.so.9 and libcublas.so.12 on that driver's memory), for StubLibrariesTest. No
# g++: nothing is built and those tests skip.
# Maven runs this before the tests; by hand: build-stub-driver.sh OUTPUT_DIR
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:?usage: build-stub-driver.sh OUTPUT_DIR}
if ! command -v g++ >/dev/null; then
  echo "stub driver: g++ not found; StubDriverTest will skip" >&2
  exit 0
fi
mkdir -p "$out"
# The kernel table: every kernel fingerspell.cu defines.
grep -o 'extern "C" __global__ void [A-Za-z0-9_]*' "$here/../../main/cuda/fingerspell.cu" |
  sed 's/.* /KERNEL(/; s/$/)/' >"$out/kernels.inc"
g++ -std=c++20 -O1 -g -shared -fPIC -Wall -Wno-unknown-pragmas -Wno-sign-compare \
  -include "$here/cuda_host.h" -I "$out" -Wl,-soname,libcuda.so.1 \
  -x c++ "$here/stub_driver.cpp" -o "$out/libcuda.so.1.tmp"
mv "$out/libcuda.so.1.tmp" "$out/libcuda.so.1"
for lib in cudnn:libcudnn.so.9 cublas:libcublas.so.12; do
  g++ -std=c++17 -O2 -g -shared -fPIC -Wall -Wno-sign-compare -Wl,-soname,"${lib#*:}" \
    "$here/stub_${lib%%:*}.cpp" -L "$out" -l:libcuda.so.1 -Wl,-rpath,'$ORIGIN' \
    -o "$out/${lib#*:}.tmp"
  mv "$out/${lib#*:}.tmp" "$out/${lib#*:}"
done

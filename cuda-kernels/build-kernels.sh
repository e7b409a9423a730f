#!/usr/bin/env bash
# Builds src/main/cuda/fingerspell.cu into the fatbin kept in src/main/resources, when nvcc is
# here and the kept one is stale. The stamp beside it records the source's and the fatbin's
# SHA-256 and the flags; KernelBinaryTest fails when the source no longer matches the stamp, so a
# machine without nvcc still builds, and a changed kernel without a rebuilt binary does not pass.
# Maven runs this in generate-resources; by hand: cuda-kernels/build-kernels.sh
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$here/src/main/cuda/fingerspell.cu
out=$here/src/main/resources/dev/fingerspell/cuda/fingerspell.fatbin
stamp=$out.stamp
# Turing (sm_75), Ampere and Ada (sm_80 binaries run on 8.x), Hopper (sm_90), and PTX for newer.
flags="-O3 -Xfatbin -compress-all -gencode arch=compute_75,code=sm_75 -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90"
source_sha=$(sha256sum "$src" | cut -d' ' -f1)
if [[ -f $stamp ]] && grep -qx "source $source_sha" "$stamp" && grep -qxF "flags $flags" "$stamp"; then
  exit 0 # up to date
fi
nvcc=$(command -v nvcc || true)
[[ -z $nvcc && -x /usr/local/cuda/bin/nvcc ]] && nvcc=/usr/local/cuda/bin/nvcc
if [[ -z $nvcc ]]; then
  echo "build-kernels: nvcc not found; keeping the committed fatbin (KernelBinaryTest says whether it is stale)" >&2
  exit 0
fi
mkdir -p "$(dirname "$out")"
tmp=$(mktemp "$out.XXXXXX")
trap 'rm -f "$tmp"' EXIT
# shellcheck disable=SC2086 # flags are words
"$nvcc" --fatbin $flags -o "$tmp" "$src"
mv "$tmp" "$out"
printf 'source %s\nfatbin %s\nflags %s\nnvcc %s\n' "$source_sha" "$(sha256sum "$out" | cut -d' ' -f1)" \
  "$flags" "$("$nvcc" --version | tail -1)" > "$stamp"
echo "build-kernels: built $(basename "$out") ($(stat -c %s "$out") bytes)"

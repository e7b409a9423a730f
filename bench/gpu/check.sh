#!/usr/bin/env bash
# The whole GPU check, on the GPU machine (no JDK, no network): the probe (driver, GPUs, cuDNN,
# cuBLAS through FFM), then every test of the CUDA module (GPU tests run there, not skip). Full
# log in $OUT/gpu-check.log; a short table last. Prepared here by bench/gpu/prepare.sh.
# So far it covers the kernels and the driver layer; the backend, ResNet18 parity and the
# benchmark against PyTorch join it as they are written (issue #6).
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=${OUT:-/tmp/gpu-out}
mkdir -p "$out"
log=$out/gpu-check.log
exec > >(tee "$log") 2>&1
if ! command -v java >/dev/null || ! java -version 2>&1 | grep -q '"25'; then
  tar xzf "$root/.device/jre.tgz" -C /tmp && export JAVA_HOME=/tmp/jre PATH=/tmp/jre/bin:$PATH
fi
# pip's cuDNN/cuBLAS live in site-packages/nvidia/*/lib; cuDNN 9 opens its sub-libraries by name.
libs=$(python3 -c 'import glob, site; print(":".join(sorted(glob.glob(site.getsitepackages()[0] + "/nvidia/*/lib"))))' 2>/dev/null || true)
export FINGERSPELL_CUDA_LIBS=$libs LD_LIBRARY_PATH=${libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
cp="$root/.device/lib/*"
flags=(--add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED)
echo "== probe"
java "${flags[@]}" -cp "$cp" dev.fingerspell.cuda.CudaProbe
probe=$?
echo "== tests"
cd "$root/cuda-kernels" # the tests read the kernel source relative to the module
java "${flags[@]}" -jar "$root"/.device/lib/junit-platform-console-standalone-*.jar execute \
  --class-path "$(ls "$root"/.device/lib/*.jar | grep -v console-standalone | paste -sd:)" \
  --select-package dev.fingerspell.cuda --details=tree --disable-banner --fail-if-no-tests \
  --reports-dir "$out/junit"
tests=$?
aborted=$(sed -n 's/.*\[ *\([0-9]*\) tests aborted.*/\1/p' "$log" | tail -1)
if [[ $probe == 0 && ${aborted:-0} != 0 ]]; then
  echo "a GPU answered, yet $aborted tests were skipped"
  tests=1
fi
echo "== summary"
printf '%-10s %s\n' probe "$([[ $probe == 0 ]] && echo ok || echo "exit $probe")" \
  tests "$([[ $tests == 0 ]] && echo ok || echo "exit $tests")"
[[ $probe == 0 && $tests == 0 ]]

#!/usr/bin/env bash
# The whole GPU check (issue #6), on the GPU machine (no JDK, no Maven, no network), prepared here
# by bench/gpu/prepare.sh:
#   1. the probe: driver, GPUs, cuDNN and cuBLAS through java.lang.foreign;
#   2. the GPU tests: every CUDA-module test (each op forward and backward against the CPU,
#      allocator reuse) and ResNet18GpuTest (logits against the PyTorch golden within 1e-4 with
#      TF32 off, no device memory kept after 1,000 passes, head steps against the CPU);
#   3. the benchmark, each side twice, alternating: ResNet18 forward at batch 1, 32 and 256 (fp32,
#      224x224) in images/s, one head epoch on 87,000 cached features, and the feature cache's pass
#      (8-bit images in host memory to features in host memory, transfers included, batch 256),
#      against the PyTorch on that machine (TF32 off on both sides);
#   4. `fingerspell demo` on the GPU (train and evaluate end to end; reported, not gating: it also
#      needs fonts for its synthetic images and plots), run as a user would: the libraries found by
#      the backend's own search, not named by this script;
#   5. the sweep: tensor-core's and resnet's whole suites with the GPU as the default device
#      (every op against float64 references and finite differences, the PyTorch goldens).
# Full log in $OUT/gpu-check.log, JUnit XML under $OUT/junit*, the table last.
# CHECK_STAGES picks stages (default "tests bench demo sweep"; the probe always runs), so that one
# device session can run "tests bench" first and, only when they pass, "demo sweep" in a second
# call, or rerun a fixed stage alone; a stage not run is "not run" in the table and does not gate.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=${OUT:-/tmp/gpu-out}
mkdir -p "$out"
log=$out/gpu-check.log
exec > >(tee "$log") 2>&1
start=$(date +%s)
stamp() { echo "[$(($(date +%s) - start)) s] $*"; }
# Every stage gets at most its own limit and what is left of CHECK_SECONDS (default 500, inside the
# device call's 600), so a hang costs one stage and the table still comes out.
deadline=$((start + ${CHECK_SECONDS:-500}))
limit() { # SECONDS -> the smaller of it and the time left (at least 1)
  local left=$((deadline - $(date +%s)))
  ((left < 1)) && left=1
  echo $(($1 < left ? $1 : left))
}
if ! command -v java >/dev/null || ! java -version 2>&1 | grep -q '"25'; then
  tar xzf "$root/.device/jre.tgz" -C /tmp && export JAVA_HOME=/tmp/jre PATH=/tmp/jre/bin:$PATH
fi
python=${CHECK_PYTHON:-$(command -v python3 || echo /usr/bin/python3)}
user_ld=${LD_LIBRARY_PATH-} # as the machine had it, for the demo, which runs as a user would
# pip's cuDNN and cuBLAS live in site-packages/nvidia/*/lib.
libs=$("$python" -c 'import glob, site; print(":".join(sorted(set(d for s in site.getsitepackages() for d in glob.glob(s + "/nvidia/*/lib")))))' 2>/dev/null || true)
export FINGERSPELL_CUDA_LIBS=$libs LD_LIBRARY_PATH=${libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
device=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
java -version 2>&1 | head -1
"$python" -c 'import torch; print("torch", torch.__version__, "cudnn", torch.backends.cudnn.version())' || true
cp=$(ls "$root"/.device/lib/*.jar | grep -v console-standalone | paste -sd:)
console=$(ls "$root"/.device/lib/junit-platform-console-standalone-*.jar)
# A crash in a native library leaves its report (with the Java frames: which test) with the log.
flags=(--add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx24g "-XX:ErrorFile=$out/hs_err_%p.log")
# A dry run without a GPU, to try this script before spending device time on it:
#   CHECK_EMULATOR=cuda-kernels/target/emulator/libfingerspell_host.so CHECK_PYTHON=/usr/bin/python3 \
#   CHECK_SPECS="forward 2 64 1;head 3000 64 1;features 2 64 1" CHECK_SECONDS=1200 CHECK_GPU_TESTS_SECONDS=600 \
#   bash bench/gpu/check.sh
# runs every stage on the host emulator (PyTorch on the CPU); its numbers mean nothing, and the
# GPU tests take minutes there (1,000 ResNet18 passes at ~0.1 s).
# CHECK_STUB=cuda-kernels/target/stub-driver instead runs the driver layer itself (JCuda) on the stub
# libcuda.so.1 (src/test/emulator/stub_driver.cpp), so the GPU tests run rather than skip.
torch_device=cuda
# The allocator tests warm up a collection period at a time until one reaches cuMemAlloc no more
# (CudaBackend.settleAllocator): on a dry run, where a ResNet18 pass takes ~0.1 s, the period is
# shortened to keep that to a few hundred passes.
[[ -n ${CHECK_STUB:-}${CHECK_EMULATOR:-} ]] && flags+=(-Dfingerspell.cuda.collectEvery=1024)
if [[ -n ${CHECK_STUB:-} ]]; then
  stub=$(realpath "$CHECK_STUB")
  export LD_LIBRARY_PATH=$stub${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} FINGERSPELL_CUDA_LIBS=$stub
  # The CPU's kernels in place of cuDNN and cuBLAS, unless CHECK_STUB_LIBRARIES=1: then the stub
  # cuDNN and cuBLAS beside the stub driver, so the backend's own library code runs as on a GPU
  # (their plain loops are slow: small specs, and not the GPU tests' 1,000 passes).
  [[ ${CHECK_STUB_LIBRARIES:-} == 1 ]] || flags+=(-Dfingerspell.cuda.hostLibraries=true)
  torch_device=cpu
  echo "DRY RUN on the stub driver: the numbers below mean nothing"
fi
if [[ -n ${CHECK_EMULATOR:-} ]]; then
  flags+=("-Dfingerspell.cuda.emulator=$(realpath "$CHECK_EMULATOR")")
  torch_device=cpu
  echo "DRY RUN on the host emulator: the numbers below mean nothing"
fi
stages=" ${CHECK_STAGES:-tests bench demo sweep} "
want() { [[ $stages == *" $1 "* ]]; }
gpu_tests=- demo=- sweep_tensor=- sweep_resnet=- # "-": not run
IFS=';' read -ra specs <<<"${CHECK_SPECS:-forward 1 224 3;forward 32 224 3;forward 256 224 3;head 87000 64 2;features 256 224 3}"

stamp "== probe"
java "${flags[@]}" -cp "$cp" dev.fingerspell.cuda.CudaProbe
probe=$?

junit() { # REPORTS_DIR SECONDS [java options --] selectors...
  local reports=$1 seconds=$2
  shift 2
  local jopts=()
  while [[ $# -gt 0 && $1 != -- ]]; do jopts+=("$1"); shift; done
  shift
  timeout "$(limit "$seconds")" java "${flags[@]}" "${jopts[@]}" -jar "$console" execute --class-path "$cp" \
    --details=tree --disable-banner --disable-ansi-colors --fail-if-no-tests --reports-dir "$reports" "$@"
}

stage_tests() {
  stamp "== GPU tests"
  (cd "$root/cuda-kernels" && junit "$out/junit-gpu" "${CHECK_GPU_TESTS_SECONDS:-240}" -- \
    --select-package dev.fingerspell.cuda \
    --select-class dev.fingerspell.resnet.ResNet18GpuTest)
  gpu_tests=$?
  # A GPU answered, so no *GpuTest may have been skipped.
  skipped=$("$python" - "$out/junit-gpu" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
n = 0
for f in glob.glob(sys.argv[1] + "/*.xml"):
    for case in ET.parse(f).getroot().iter("testcase"):
        if "GpuTest" in case.get("classname", "") and case.find("skipped") is not None:
            n += 1
print(n)
PY
  )
  if [[ ($probe == 0 || -n ${CHECK_STUB:-}) && ${skipped:-1} != 0 ]]; then
    echo "a GPU answered, yet $skipped GPU tests were skipped"
    gpu_tests=1
  fi
}

stage_bench() {
  stamp "== benchmark (Fingerspell and PyTorch alternately, on the GPU)"
  measure() { # SIDE WHAT A B C -> value; SIDE fingerspell-unfused: conv and our epilogue kernel
    if [[ $1 == fingerspell* ]]; then
      timeout "$(limit 60)" java "${flags[@]}" -Dfingerspell.device=cuda -Dfingerspell.bench.warmUpSeconds=2 \
        -Dfingerspell.cuda.fused=$([[ $1 == fingerspell ]] && echo true || echo false) \
        -cp "$cp" dev.fingerspell.bench.Measure "${@:2}"
    else
      timeout "$(limit 60)" "$python" "$root/bench/python/measure.py" --device "$torch_device" \
        --warm-up 2 4 "${@:2}"
    fi | tee -a "$out/bench.txt" | sed -n 's/.*value=//p' | tail -1
  }
  for spec in "${specs[@]}"; do
    f=() p=()
    for round in 1 2; do
      # shellcheck disable=SC2086 # spec is words
      f+=("$(measure fingerspell $spec)")
      p+=("$(measure pytorch $spec)")
      stamp "$spec round $round: fingerspell ${f[-1]:-failed}, pytorch ${p[-1]:-failed}"
    done
    rows+=("$spec|${f[*]}|${p[*]}")
    [[ $spec == forward* ]] && last_forward=$spec last_forward_torch="${p[*]}"
  done
  # The largest batch's forward again without cuDNN's fused call (convolution, then our epilogue).
  if [[ -n ${last_forward:-} ]]; then
    # shellcheck disable=SC2086 # the spec is words
    unfused=$(measure fingerspell-unfused $last_forward)
    stamp "$last_forward unfused: fingerspell ${unfused:-failed}"
    rows+=("${last_forward% *} unfused|${unfused}|${last_forward_torch}")
  fi

  # Where the time went (device against wall clock, per measurement and round) and cuDNN's
  # algorithm per shape; lines repeated by later rounds are left out.
  grep -h '^gpu ' "$out/bench.txt" 2>/dev/null | awk '!seen[$0]++' | head -80
}

stage_demo() {
  # As a user runs it: no FINGERSPELL_CUDA_LIBS and none of pip's folders on LD_LIBRARY_PATH, so
  # cuDNN, cuBLAS and what cuDNN opens itself (cuBLASLt, NVRTC) are found by the backend's own
  # search, from the python3 on PATH. The stages before had both set; a failure here that they did
  # not have is in that search.
  local as_user=(env)
  if [[ -z ${CHECK_STUB:-}${CHECK_EMULATOR:-} ]]; then
    as_user=(env -u FINGERSPELL_CUDA_LIBS "LD_LIBRARY_PATH=$user_ld" "PATH=$(dirname "$python"):$PATH")
  fi
  stamp "== demo on the GPU as a user runs it: synthesise, prepare, train (whole network, 64x64), evaluate"
  timeout "$(limit 30)" "${as_user[@]}" java "${flags[@]}" -cp "$cp" dev.fingerspell.cuda.CudaProbe
  timeout "$(limit 120)" "${as_user[@]}" java "${flags[@]}" -cp "$cp" \
    dev.fingerspell.train.Main demo --dir /tmp/fingerspell-demo --per-class 20 --epochs 2 --device cuda
  demo=$?
  # serve the demo's model on the GPU: requests answered by the inference thread (its own CUDA
  # context binding), then SIGTERM
  if [[ $demo == 0 ]]; then
    stamp "== serve the demo's model on the GPU, 8 requests at once, then SIGTERM"
    "${as_user[@]}" java "${flags[@]}" -cp "$cp" dev.fingerspell.train.Main serve --device cuda \
      --model /tmp/fingerspell-demo/run --port 0 --max-batch 4 >/tmp/fingerspell-serve.log 2>&1 &
    local served=$!
    timeout "$(limit 60)" "$python" - /tmp/fingerspell-serve.log \
      /tmp/fingerspell-demo/raw/asl_alphabet_test/asl_alphabet_test/A_test.jpg <<'PY' || demo=serve
import concurrent.futures, re, sys, time, urllib.request
log, image = sys.argv[1], open(sys.argv[2], "rb").read()
while not (m := re.search(r"^fingerspell: serving .* on (http://[0-9.:]+)", text := open(log).read(), re.M)):
    if "Exception" in text or "Error" in text or re.search(r"^fingerspell: (?!serving|listening)", text, re.M):
        sys.exit("serve did not start")
    time.sleep(0.5)
def post(_):
    req = urllib.request.Request(m.group(1) + "/predict", data=image, method="POST")
    return urllib.request.urlopen(req, timeout=30).read().decode()
with concurrent.futures.ThreadPoolExecutor(8) as pool:
    answers = list(pool.map(post, range(8)))
assert all('"predictions"' in a for a in answers), answers
print(answers[0])
metrics = urllib.request.urlopen(m.group(1) + "/metrics").read().decode()
print(re.search(r"^fingerspell_batches_total (\d+)", metrics, re.M).group(1), "passes for 8 images")
PY
    kill -TERM "$served" 2>/dev/null
    wait "$served"
    cat /tmp/fingerspell-serve.log
    grep -q "fingerspell: stopped" /tmp/fingerspell-serve.log || demo=serve
  fi
}

stage_sweep() {
  stamp "== sweep: tensor-core and resnet suites on the GPU"
  (cd "$root/tensor-core" && junit "$out/junit-sweep-tensor" 180 -Dfingerspell.device=cuda -- \
    --select-package dev.fingerspell.tensor)
  sweep_tensor=$?
  (cd "$root/resnet" && junit "$out/junit-sweep-resnet" 180 -Dfingerspell.device=cuda -- \
    --select-package dev.fingerspell.resnet --exclude-classname '.*(GpuTest|Nd4jTest)')
  sweep_resnet=$?
}

rows=()
want tests && stage_tests
want bench && stage_bench
want demo && stage_demo
want sweep && stage_sweep

stamp "== summary ($device)"
printf '%-22s %-22s %-22s %s\n' measure fingerspell pytorch "ratio (F/P; for seconds P/F)"
for r in "${rows[@]}"; do
  IFS='|' read -r spec fv pv <<<"$r"
  "$python" - "$spec" "$fv" "$pv" <<'PY'
import statistics, sys
spec, f, p = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
try:
    fm, pm = statistics.median(map(float, f)), statistics.median(map(float, p))
    unit = "s" if spec.startswith("head") else "img/s"
    ratio = pm / fm if unit == "s" else fm / pm
    print(f"{spec:<22} {' '.join(f) + ' ' + unit:<22} {' '.join(p) + ' ' + unit:<22} {ratio:.2f}x")
except Exception as e:
    print(f"{spec:<22} {' '.join(f) or 'failed':<22} {' '.join(p) or 'failed':<22} -")
PY
done
said() { # STATUS -> ok, not run, or exit N
  case $1 in 0) echo ok ;; -) echo "not run" ;; serve) echo "demo ok, serve failed" ;; *) echo "exit $1" ;; esac
}
printf '%-22s %s\n' probe "$(said $probe)" "GPU tests" "$(said $gpu_tests)" \
  "sweep tensor-core" "$(said $sweep_tensor)" "sweep resnet" "$(said $sweep_resnet)" \
  "demo (not gating)" "$(said $demo)"
passed() { [[ $1 == 0 || $1 == - ]]; }
[[ $probe == 0 ]] && passed $gpu_tests && passed $sweep_tensor && passed $sweep_resnet

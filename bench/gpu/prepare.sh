#!/usr/bin/env bash
# Here, before a GPU call: builds what bench/gpu/check.sh needs into .device/ (git-ignored, at
# most 64 MiB): a JDK 25 runtime (../shared/device/make-jre.sh), the project's jars with their
# dependencies, the test classes of tensor-core, resnet and cuda-kernels, and JUnit's console
# launcher. Then: run with carry [".device"] and the command `bash bench/gpu/check.sh`.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
mvn -B -q install -DskipTests -Djacoco.skip=true -Dspotless.check.skip=true
rm -rf .device/lib && mkdir -p .device/lib
# Main jars and every dependency the benchmark and the tests need (JMH's included: it is small).
for m in bench resnet cuda-kernels tensor-core; do
  mvn -B -q dependency:copy-dependencies -pl $m -DincludeScope=test -DexcludeTransitive=false \
    -DoutputDirectory="$root/.device/lib"
done
cp bench/target/bench-*.jar .device/lib/ 2>/dev/null || cp bench/target/*.jar .device/lib/
for m in tensor-core resnet cuda-kernels; do
  (cd $m/target/test-classes && jar cf "$root/.device/lib/$m-tests.jar" .)
done
# the test-jar dependency duplicates the tests jar made above
rm -f .device/lib/tensor-core-*-tests.jar .device/lib/*-sources.jar
# ND4J (the CPU fallback, 140 MB) has no part in the GPU check; ResNet18Nd4jTest is left out there
nd4j-backend/remove-jars .device
# JCuda's natives jar carries its PTX compiler and NVRTC bindings (24 MB unpacked, 8 MB packed),
# which the backend never loads: only libJCudaDriver is (and libJCudaRuntime, kept, is small).
zip -q -d .device/lib/jcuda-natives-*.jar 'lib/libJNvPTXCompiler*' 'lib/libJNvrtc*'
mvn -B -q dependency:copy -Dartifact=org.junit.platform:junit-platform-console-standalone:1.14.1 \
  -DoutputDirectory="$root/.device/lib"
# JUnit's console launcher scans jars through the zip file system and writes XML reports; the
# resnet classes name java.awt types (image decoding), so the runtime carries java.desktop; the CPU
# backend reads the JVM's compiler flags through jdk.management (as in the Docker image's runtime).
JRE_MODULES=java.base,java.logging,java.management,jdk.management,jdk.unsupported,jdk.incubator.vector,jdk.crypto.ec,java.net.http,jdk.zipfs,java.xml,java.desktop,jdk.httpserver \
  "$root/../shared/device/make-jre.sh"
du -sh .device .device/lib .device/jre.tgz
# What a device call sends: the tracked and untracked-not-ignored files plus .device, 64 MiB at
# most. Refused there, it would be found out only after the machine was asked for.
tree=$(git ls-files -co --exclude-standard -z | xargs -0 -r du -cb 2>/dev/null | awk 'END {print $1}')
carry=$(du -sb .device | cut -f1)
total=$((tree + carry))
echo "a device call sends $((total / 1048576)) MiB ($tree bytes of files, $carry of .device) of 64 MiB"
if ((total > 64 * 1048576)); then
  echo "prepare.sh: that is over the device call's 64 MiB: carry less (.device/lib) or ignore more" >&2
  exit 1
fi

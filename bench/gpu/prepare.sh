#!/usr/bin/env bash
# Here, before a GPU call: builds what bench/gpu/check.sh needs into .device/ (git-ignored, at
# most 64 MiB): a JDK 25 runtime (../shared/device/make-jre.sh) and the jars of the CUDA module,
# its tests, its dependencies and JUnit's console launcher.
# Then: run with carry [".device"] and the command `bash bench/gpu/check.sh`.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
mvn -B -q install -DskipTests -pl cuda-kernels -am
rm -rf .device/lib && mkdir -p .device/lib
mvn -B -q dependency:copy-dependencies -pl cuda-kernels -DincludeScope=test \
  -DoutputDirectory="$root/.device/lib"
cp cuda-kernels/target/cuda-kernels-*.jar .device/lib/
(cd cuda-kernels/target/test-classes && jar cf "$root/.device/lib/cuda-kernels-tests.jar" .)
mvn -B -q dependency:copy -Dartifact=org.junit.platform:junit-platform-console-standalone:1.14.1 \
  -DoutputDirectory="$root/.device/lib"
# JUnit's console launcher scans jars through the zip file system and writes XML reports.
JRE_MODULES=java.base,java.logging,java.management,jdk.unsupported,jdk.incubator.vector,jdk.crypto.ec,java.net.http,jdk.zipfs,java.xml \
  "$root/../shared/device/make-jre.sh"
du -sh .device

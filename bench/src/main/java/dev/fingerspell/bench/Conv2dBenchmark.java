package dev.fingerspell.bench;

import dev.fingerspell.tensor.GradMode;
import dev.fingerspell.tensor.Ops;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.tensor.Tensor;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The pure-Java backend's 2-d convolution forward at ResNet18 shapes, no graph recorded. GFLOP/s =
 * 2 × MACs / time: the 3×3 64→64 layer at [32, 64, 56, 56] is 7.40 GFLOP.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(
    value = 1,
    jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx8g"})
public class Conv2dBenchmark {
  /** {@code batch:channels:size:kernel:stride}. */
  @Param({"32:64:56:3:1"})
  public String shape;

  private Tensor input;
  private Tensor weight;
  private int stride;
  private int padding;

  /** Draws the input and weights once. */
  @Setup
  public void setup() {
    String[] p = shape.split(":");
    int n = Integer.parseInt(p[0]);
    int c = Integer.parseInt(p[1]);
    int hw = Integer.parseInt(p[2]);
    int k = Integer.parseInt(p[3]);
    stride = Integer.parseInt(p[4]);
    padding = k / 2;
    Rng rng = new Rng(1);
    input = Tensor.randn(rng, n, c, hw, hw);
    weight = Tensor.randn(rng, c, c, k, k);
  }

  /** One forward convolution. */
  @Benchmark
  public Tensor forward() {
    try (GradMode g = GradMode.noGrad()) {
      return Ops.conv2d(input, weight, null, stride, padding);
    }
  }
}

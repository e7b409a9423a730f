package dev.fingerspell.bench;

import dev.fingerspell.tensor.Backend;
import dev.fingerspell.tensor.Backends;
import dev.fingerspell.tensor.ConvGeometry;
import dev.fingerspell.tensor.Device;
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
 * Every kind of convolution in ResNet18 at its real shape (224×224 input), on a CPU backend ({@code
 * -p device=cpu,nd4j} compares the pure-Java one with ND4J's):
 *
 * <ul>
 *   <li>{@code inference}: the fused op a frozen network runs (batch norm folded, bias + residual +
 *       ReLU on the way out, weights prepared once; Winograd for 3×3 stride 1 with enough tiles);
 *   <li>{@code trainingForward}, {@code backwardData}, {@code backwardFilter}: the three products
 *       of a training step; {@code backward}: both gradients as a training step asks for them (one
 *       pass in ND4J, which computes both whichever is asked for).
 * </ul>
 *
 * GFLOP/s = 2 × {@link ConvGeometry#macs()} / time (for Winograd, the direct-equivalent rate).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
@Fork(
    value = 1,
    jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx4g"})
public class ConvBenchmark {
  /** The layer: its input channels, size, output channels, kernel, stride, padding. */
  @Param({
    "stem:3:224:64:7:2:3",
    "layer1.conv3x3:64:56:64:3:1:1",
    "layer2.conv3x3:128:28:128:3:1:1",
    "layer3.conv3x3:256:14:256:3:1:1",
    "layer4.conv3x3:512:7:512:3:1:1",
    "layer2.0.conv1/2:64:56:128:3:2:1",
    "layer2.0.downsample1x1/2:64:56:128:1:2:0"
  })
  public String layer;

  /** Images per batch. */
  @Param({"1", "32"})
  public int batch;

  /** The backend, by device name: {@code cpu} (pure Java) or {@code nd4j}. */
  @Param({"cpu"})
  public String device;

  private Backend backend;
  private ConvGeometry geometry;
  private Tensor x;
  private Tensor w;
  private Tensor bias;
  private Tensor y;
  private Tensor dy;
  private Tensor dx;
  private Tensor dw;

  /** Draws the tensors once. */
  @Setup
  public void setup() {
    String[] p = layer.split(":");
    int c = Integer.parseInt(p[1]);
    int hw = Integer.parseInt(p[2]);
    int oc = Integer.parseInt(p[3]);
    int k = Integer.parseInt(p[4]);
    int s = Integer.parseInt(p[5]);
    int pad = Integer.parseInt(p[6]);
    Backends.useDevice(device);
    backend = Backends.forDevice(Device.CPU);
    geometry = new ConvGeometry(batch, c, hw, hw, oc, k, k, s, s, pad, pad);
    Rng rng = new Rng(1);
    x = Tensor.randn(rng, batch, c, hw, hw);
    w = Tensor.randn(rng, oc, c, k, k);
    bias = Tensor.randn(rng, oc);
    y = Tensor.zeros(geometry.outShape());
    dy = Tensor.randn(rng, geometry.outShape());
    dx = Tensor.zeros(batch, c, hw, hw);
    dw = Tensor.zeros(oc, c, k, k);
  }

  /** The fused inference convolution (bias + ReLU). */
  @Benchmark
  public Tensor inference() {
    backend.conv2dBiasActivation(geometry, x, w, bias, null, true, y);
    return y;
  }

  /** The training forward (weights packed per call: they change every step). */
  @Benchmark
  public Tensor trainingForward() {
    backend.conv2dForward(geometry, x, w, null, y);
    return y;
  }

  /** The input gradient. */
  @Benchmark
  public Tensor backwardData() {
    backend.conv2dBackwardData(geometry, dy, w, dx);
    return dx;
  }

  /** The weight gradient. */
  @Benchmark
  public Tensor backwardFilter() {
    backend.conv2dBackwardFilter(geometry, x, dy, dw, null);
    return dw;
  }

  /** Both gradients, as a training step asks for them. */
  @Benchmark
  public Tensor backward() {
    backend.conv2dBackward(geometry, x, dy, w, dx, dw, null);
    return dw;
  }
}

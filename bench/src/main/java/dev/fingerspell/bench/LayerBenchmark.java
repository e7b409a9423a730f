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
 * ResNet18's other layers at their real shapes: the 3×3/2 max pool after the stem ([N, 64, 112,
 * 112]), the global average pool ([N, 512, 7, 7]) and the 29-class fc GEMM ([N, 512] × [512, 29]ᵀ),
 * forward and backward.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
@Fork(
    value = 1,
    jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx4g"})
public class LayerBenchmark {
  /** Images per batch. */
  @Param({"1", "32"})
  public int batch;

  private final Backend backend = Backends.forDevice(Device.CPU);
  private ConvGeometry pool;
  private Tensor stemOut;
  private Tensor pooled;
  private Tensor dPooled;
  private Tensor dStemOut;
  private Tensor layer4Out;
  private Tensor features;
  private Tensor dFeatures;
  private Tensor dLayer4Out;
  private Tensor fcWeight;
  private Tensor logits;
  private Tensor dLogits;
  private Tensor dFcWeight;

  /** Draws the tensors once. */
  @Setup
  public void setup() {
    Rng rng = new Rng(1);
    pool = new ConvGeometry(batch, 64, 112, 112, 64, 3, 3, 2, 2, 1, 1);
    // As in the network, the pool reads a ReLU's output: about half of it zeros, which tie for
    // the maximum, and its backward searches for the forward's real maxima.
    stemOut = Tensor.zeros(batch, 64, 112, 112);
    backend.relu(Tensor.randn(rng, batch, 64, 112, 112), stemOut);
    pooled = Tensor.zeros(pool.outShape());
    backend.maxPool2dForward(pool, stemOut, pooled);
    dPooled = Tensor.randn(rng, pool.outShape());
    dStemOut = Tensor.zeros(batch, 64, 112, 112);
    layer4Out = Tensor.randn(rng, batch, 512, 7, 7);
    features = Tensor.zeros(batch, 512);
    dFeatures = Tensor.randn(rng, batch, 512);
    dLayer4Out = Tensor.zeros(batch, 512, 7, 7);
    fcWeight = Tensor.randn(rng, 29, 512);
    logits = Tensor.zeros(batch, 29);
    dLogits = Tensor.randn(rng, batch, 29);
    dFcWeight = Tensor.zeros(29, 512);
  }

  /** Max pool 3×3/2 forward. */
  @Benchmark
  public Tensor maxPool() {
    backend.maxPool2dForward(pool, stemOut, pooled);
    return pooled;
  }

  /** Max pool backward. */
  @Benchmark
  public Tensor maxPoolBackward() {
    backend.maxPool2dBackward(pool, stemOut, pooled, dPooled, dStemOut);
    return dStemOut;
  }

  /** Global average pool forward. */
  @Benchmark
  public Tensor avgPool() {
    backend.globalAvgPoolForward(batch * 512, 49, layer4Out, features);
    return features;
  }

  /** Global average pool backward. */
  @Benchmark
  public Tensor avgPoolBackward() {
    backend.globalAvgPoolBackward(batch * 512, 49, dFeatures, dLayer4Out);
    return dLayer4Out;
  }

  /** The fc layer: logits = features · Wᵀ. */
  @Benchmark
  public Tensor fc() {
    backend.gemm(false, true, batch, 29, 512, 1f, features, fcWeight, 0f, logits);
    return logits;
  }

  /** The fc weight gradient: dW = dLogitsᵀ · features. */
  @Benchmark
  public Tensor fcWeightGradient() {
    backend.gemm(true, false, 29, 512, batch, 1f, dLogits, features, 0f, dFcWeight);
    return dFcWeight;
  }
}

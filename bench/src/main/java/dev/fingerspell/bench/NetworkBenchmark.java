package dev.fingerspell.bench;

import dev.fingerspell.resnet.FrozenResNet18;
import dev.fingerspell.resnet.ResNet18;
import dev.fingerspell.tensor.Backends;
import dev.fingerspell.tensor.Ops;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.tensor.Tensor;
import dev.fingerspell.tensor.optim.AdamW;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The whole ResNet18 at 224×224: frozen inference at batch 1 and 32 ({@code forward}), and one
 * training step with every layer training, cross-entropy and AdamW ({@code trainingStep}, batch 32
 * only). Images per second = batch / time. {@code -p device=cpu,nd4j} runs both on the pure-Java
 * backend and with ND4J's convolutions.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 4)
@Measurement(iterations = 3, time = 4)
@Fork(
    value = 1,
    jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx4g"})
public class NetworkBenchmark {
  /** Images per batch. */
  @Param({"1", "32"})
  public int batch;

  /** The backend, by device name: {@code cpu} (pure Java) or {@code nd4j}. */
  @Param({"cpu"})
  public String device;

  private FrozenResNet18 frozen;
  private ResNet18 model;
  private AdamW opt;
  private Tensor images;
  private Tensor labels;

  /** Builds both networks and a batch. */
  @Setup(Level.Trial)
  public void setup() {
    Backends.useDevice(device);
    model = new ResNet18(29, new Rng(1));
    model.eval();
    frozen = FrozenResNet18.of(model);
    model.train(true);
    opt = new AdamW(model.trainableParameters(), 1e-3, 0.9, 0.999, 1e-8, 1e-4);
    images = Tensor.randn(new Rng(2), batch, 3, 224, 224);
    long[] y = new long[batch];
    for (int i = 0; i < batch; i++) {
      y[i] = i % 29;
    }
    labels = Tensor.ofLongs(y, batch);
  }

  /** Frozen inference: logits of the batch. */
  @Benchmark
  public float[] forward() {
    return frozen.forward(images).toFloatArray();
  }

  /** One training step (batch 1 is skipped: batch norm needs two samples). */
  @Benchmark
  public float trainingStep() {
    if (batch < 2) {
      return 0f;
    }
    Tensor loss = Ops.crossEntropy(model.forward(images), labels, 0f);
    opt.zeroGrad();
    loss.backward();
    opt.step();
    return loss.item();
  }
}

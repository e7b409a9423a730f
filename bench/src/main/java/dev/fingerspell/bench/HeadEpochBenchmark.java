package dev.fingerspell.bench;

import dev.fingerspell.resnet.ResNet18;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.tensor.Tensor;
import dev.fingerspell.tensor.optim.AdamW;
import dev.fingerspell.train.training.HeadEpoch;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * One epoch of the 29-class head on 87,000 cached 512-d features (the size of the ASL training
 * set), batch 64, AdamW: the loop {@code train} runs each epoch when only the head trains.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3)
@Measurement(iterations = 5)
@Fork(
    value = 1,
    jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx2g"})
public class HeadEpochBenchmark {
  private static final int COUNT = 87_000;

  private ResNet18 model;
  private AdamW opt;
  private Tensor features;
  private long[] labels;
  private Rng rng;

  /** Random features and labels, a fresh head. */
  @Setup
  public void setup() {
    model = new ResNet18(29, null);
    model.resetClassifier(29, new Rng(3));
    model.setTrainable(ResNet18.Trainable.HEAD);
    opt = new AdamW(model.trainableParameters(), 1e-3, 0.9, 0.999, 1e-8, 1e-4);
    rng = new Rng(4);
    features = Tensor.uniform(rng, 0f, 4f, COUNT, ResNet18.FEATURES);
    labels = new long[COUNT];
    for (int i = 0; i < COUNT; i++) {
      labels[i] = i % 29;
    }
  }

  /** One epoch. */
  @Benchmark
  public double[] epoch() {
    return HeadEpoch.run(model, opt, features, labels, rng, 64, 0f, HeadEpoch.Progress.NONE);
  }
}

package dev.fingerspell.train.training;

import dev.fingerspell.resnet.FrozenResNet18;
import dev.fingerspell.tensor.GradMode;
import dev.fingerspell.tensor.Tensor;
import java.util.function.BiConsumer;
import java.util.function.BooleanSupplier;

/**
 * The frozen backbone over a stream of batches, features back in order: what the feature cache
 * runs. Public so that the benchmarks time this very loop.
 */
public final class FeaturePass {
  private FeaturePass() {}

  /** Makes a batch's model input. */
  public interface Input<B> {
    /**
     * The input of {@code batch} on the default device, written into {@code reuse} where it fits:
     * null, or the input of the batch two before, which the device is done with.
     */
    Tensor of(B batch, Tensor reuse);
  }

  /**
   * Hands {@code sink} each batch with its {@code [n, 512]} features, in order. {@code input} makes
   * a batch's model input on the default device. On a GPU the work is queued and runs while the
   * host goes on: the next batch is read and sent before the previous one's features are read back,
   * so reading and copying on the host overlap the device's work. The inputs take turns in two
   * tensors, so a pass over many batches allocates none after the first two.
   */
  public static <B> void run(
      FrozenResNet18 backbone, Iterable<B> batches, Input<B> input, BiConsumer<B, float[]> sink) {
    run(backbone, batches, input, sink, () -> false);
  }

  /**
   * As {@link #run(FrozenResNet18, Iterable, Input, BiConsumer)}, asking {@code stop} before each
   * batch: a pass over a whole data set takes minutes on a CPU, and Ctrl-C must not wait for it.
   * Returns false when stopped (the batches already handed to {@code sink} stay handed).
   */
  public static <B> boolean run(
      FrozenResNet18 backbone,
      Iterable<B> batches,
      Input<B> input,
      BiConsumer<B, float[]> sink,
      BooleanSupplier stop) {
    try (GradMode g = GradMode.noGrad()) {
      B previous = null;
      Tensor features = null;
      Tensor[] inputs = new Tensor[2];
      int turn = 0;
      for (B batch : batches) {
        if (stop.getAsBoolean()) {
          return false;
        }
        Tensor x = input.of(batch, inputs[turn]);
        inputs[turn] = x;
        turn ^= 1;
        if (previous != null) {
          sink.accept(previous, features.toFloatArray());
        }
        features = backbone.forwardFeatures(x);
        previous = batch;
      }
      if (previous != null) {
        sink.accept(previous, features.toFloatArray());
      }
      return true;
    }
  }
}

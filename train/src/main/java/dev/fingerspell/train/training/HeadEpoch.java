package dev.fingerspell.train.training;

import dev.fingerspell.resnet.ResNet18;
import dev.fingerspell.tensor.Ops;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.tensor.Tensor;
import dev.fingerspell.tensor.optim.Optimizer;

/**
 * One epoch of the classifier alone on cached 512-d features: what {@code train} runs each epoch
 * when only the head trains. Shuffled mini-batches, cross-entropy, backward, one optimizer step
 * each. Public so that the benchmarks time this very loop.
 */
public final class HeadEpoch {
  /** Where the epoch reports to. */
  public interface Progress {
    /** {@code n} more samples done; {@code meanLoss} is the running mean training loss. */
    void step(int n, double meanLoss);

    /** Whether to stop before the next batch. */
    boolean stopRequested();

    /** Reports nothing and never stops. */
    Progress NONE =
        new Progress() {
          @Override
          public void step(int n, double meanLoss) {}

          @Override
          public boolean stopRequested() {
            return false;
          }
        };
  }

  private HeadEpoch() {}

  /**
   * Trains {@code model.fc()} for one epoch over {@code features [count, 512]} (on the model's
   * device, made once for all epochs) and their labels. Returns {@code {loss sum, correct, count}},
   * or null when stopped.
   */
  public static double[] run(
      ResNet18 model,
      Optimizer opt,
      Tensor features,
      long[] labels,
      Rng rng,
      int batchSize,
      float smoothing,
      Progress progress) {
    int count = features.size(0);
    int[] perm = Batches.permutation(count, rng);
    double lossSum = 0;
    long correct = 0;
    for (int from = 0; from < count; from += batchSize) {
      if (progress.stopRequested()) {
        return null;
      }
      int n = Math.min(batchSize, count - from);
      int[] rows = java.util.Arrays.copyOfRange(perm, from, from + n);
      long[] y = new long[n];
      for (int i = 0; i < n; i++) {
        y[i] = labels[rows[i]];
      }
      Tensor x = Ops.gatherRows(features, rows);
      double[] r = Trainer.step(model.forwardHead(x), y, opt, smoothing);
      lossSum += r[0] * n;
      correct += (long) r[1];
      progress.step(n, lossSum / (from + n));
    }
    return new double[] {lossSum, correct, count};
  }
}

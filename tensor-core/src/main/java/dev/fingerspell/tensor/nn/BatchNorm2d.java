package dev.fingerspell.tensor.nn;

import dev.fingerspell.tensor.DType;
import dev.fingerspell.tensor.Ops;
import dev.fingerspell.tensor.Tensor;

/**
 * {@code nn.BatchNorm2d}: in training mode it normalises with batch statistics and updates {@code
 * running_mean}/{@code running_var} (momentum 0.1, unbiased variance) and {@code
 * num_batches_tracked}; in evaluation mode it uses the running statistics.
 */
public final class BatchNorm2d extends Module {
  private final float eps;
  private final float momentum;
  private final Tensor weight;
  private final Tensor bias;
  private final Tensor runningMean;
  private final Tensor runningVar;
  private final Tensor numBatchesTracked;

  /** PyTorch's defaults: eps 1e-5, momentum 0.1. */
  public BatchNorm2d(int channels) {
    this(channels, 1e-5f, 0.1f);
  }

  /** Weight 1, bias 0, running mean 0, running variance 1. */
  public BatchNorm2d(int channels, float eps, float momentum) {
    this.eps = eps;
    this.momentum = momentum;
    weight = registerParameter("weight", Tensor.ones(channels));
    bias = registerParameter("bias", Tensor.zeros(channels));
    runningMean = registerBuffer("running_mean", Tensor.zeros(channels));
    runningVar = registerBuffer("running_var", Tensor.ones(channels));
    numBatchesTracked =
        registerBuffer(
            "num_batches_tracked",
            Tensor.zeros(runningMean.device(), DType.INT64 /* 0-rank, as PyTorch */));
  }

  @Override
  public Tensor forward(Tensor input) {
    if (isTraining()) {
      long seen = numBatchesTracked.toLongArray()[0];
      numBatchesTracked.copyFrom(Tensor.ofLongs(new long[] {seen + 1}));
    }
    return Ops.batchNorm(input, weight, bias, runningMean, runningVar, isTraining(), momentum, eps);
  }

  /** Epsilon added to the variance. */
  public float eps() {
    return eps;
  }

  /** {@code [C]} scale. */
  public Tensor weight() {
    return weight;
  }

  /** {@code [C]} shift. */
  public Tensor bias() {
    return bias;
  }

  /** {@code [C]}. */
  public Tensor runningMean() {
    return runningMean;
  }

  /** {@code [C]}, unbiased. */
  public Tensor runningVar() {
    return runningVar;
  }
}

package dev.fingerspell.tensor.nn;

import dev.fingerspell.tensor.Ops;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.tensor.Tensor;

/** {@code nn.Linear}: {@code y = x Wᵀ + b}, weight {@code [out, in]}. */
public final class Linear extends Module {
  private final Tensor weight;
  private final Tensor bias;

  /** Weights initialised as PyTorch does by default, drawn from {@code rng}. */
  public Linear(int inFeatures, int outFeatures, boolean bias, Rng rng) {
    weight =
        registerParameter(
            "weight", Init.kaimingUniformDefault(rng, inFeatures, outFeatures, inFeatures));
    this.bias =
        bias ? registerParameter("bias", Init.defaultBias(rng, inFeatures, outFeatures)) : null;
  }

  @Override
  public Tensor forward(Tensor input) {
    return Ops.linear(input, weight, bias);
  }

  /** {@code [out, in]}. */
  public Tensor weight() {
    return weight;
  }

  /** {@code [out]}, or null. */
  public Tensor bias() {
    return bias;
  }
}

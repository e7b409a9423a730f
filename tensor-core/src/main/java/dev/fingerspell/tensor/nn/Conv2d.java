package dev.fingerspell.tensor.nn;

import dev.fingerspell.tensor.Ops;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.tensor.Tensor;

/** {@code nn.Conv2d}: square kernel, equal stride and padding on both axes. */
public final class Conv2d extends Module {
  private final int stride;
  private final int padding;
  private final Tensor weight;
  private final Tensor bias;

  /** Weights initialised as PyTorch does by default, drawn from {@code rng}. */
  public Conv2d(
      int inChannels, int outChannels, int kernel, int stride, int padding, boolean bias, Rng rng) {
    this.stride = stride;
    this.padding = padding;
    int fanIn = inChannels * kernel * kernel;
    weight =
        registerParameter(
            "weight",
            Init.kaimingUniformDefault(rng, fanIn, outChannels, inChannels, kernel, kernel));
    this.bias = bias ? registerParameter("bias", Init.defaultBias(rng, fanIn, outChannels)) : null;
  }

  @Override
  public Tensor forward(Tensor input) {
    return Ops.conv2d(input, weight, bias, stride, padding);
  }

  /** The stride, on both axes. */
  public int stride() {
    return stride;
  }

  /** The zero padding, on both axes. */
  public int padding() {
    return padding;
  }

  /** {@code [out, in, k, k]}. */
  public Tensor weight() {
    return weight;
  }

  /** The bias, or null. */
  public Tensor bias() {
    return bias;
  }
}

package dev.fingerspell.tensor.nn;

import dev.fingerspell.tensor.Ops;
import dev.fingerspell.tensor.Tensor;

/** {@code nn.MaxPool2d} with a square window. */
public final class MaxPool2d extends Module {
  private final int kernel;
  private final int stride;
  private final int padding;

  /** A {@code kernel}×{@code kernel} window moving by {@code stride}, padded by {@code padding}. */
  public MaxPool2d(int kernel, int stride, int padding) {
    this.kernel = kernel;
    this.stride = stride;
    this.padding = padding;
  }

  @Override
  public Tensor forward(Tensor input) {
    return Ops.maxPool2d(input, kernel, stride, padding);
  }
}

package dev.fingerspell.tensor.nn;

import dev.fingerspell.tensor.Ops;
import dev.fingerspell.tensor.Tensor;

/** {@code nn.ReLU}. */
public final class ReLU extends Module {
  @Override
  public Tensor forward(Tensor input) {
    return Ops.relu(input);
  }
}

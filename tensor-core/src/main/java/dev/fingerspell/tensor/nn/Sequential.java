package dev.fingerspell.tensor.nn;

import dev.fingerspell.tensor.Tensor;

/** {@code nn.Sequential}: children named {@code 0}, {@code 1}, … applied in order. */
public final class Sequential extends Module {
  /** The layers, in order. */
  public Sequential(Module... layers) {
    for (int i = 0; i < layers.length; i++) {
      registerModule(Integer.toString(i), layers[i]);
    }
  }

  @Override
  public Tensor forward(Tensor input) {
    Tensor x = input;
    for (Module m : children().values()) {
      x = m.forward(x);
    }
    return x;
  }
}

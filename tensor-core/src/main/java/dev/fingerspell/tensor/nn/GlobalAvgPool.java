package dev.fingerspell.tensor.nn;

import dev.fingerspell.tensor.Ops;
import dev.fingerspell.tensor.Tensor;

/** Average over H and W, then flatten: {@code [N, C, H, W]} to {@code [N, C]} (timm's pool). */
public final class GlobalAvgPool extends Module {
  @Override
  public Tensor forward(Tensor input) {
    return Ops.globalAvgPool(input);
  }
}

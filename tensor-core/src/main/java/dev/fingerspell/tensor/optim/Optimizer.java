package dev.fingerspell.tensor.optim;

import dev.fingerspell.tensor.Tensor;
import java.util.List;

/** Updates parameters in place from their gradients; one learning rate for all of them. */
public abstract class Optimizer {
  /** The parameters, in the order given. */
  protected final List<Tensor> params;

  /** The current learning rate (a schedule changes it between steps). */
  protected double lr;

  /** Parameters that do not require grad are rejected: freeze by not passing them. */
  protected Optimizer(List<Tensor> params, double lr) {
    if (!(lr >= 0)) {
      throw new IllegalArgumentException("learning rate must be >= 0, got " + lr);
    }
    for (Tensor p : params) {
      if (!p.requiresGrad() || !p.isLeaf()) {
        throw new IllegalArgumentException(
            "optimizer given a tensor that is not a parameter: " + p);
      }
    }
    this.params = List.copyOf(params);
    this.lr = lr;
  }

  /** One update of every parameter that has a gradient; those without one are skipped. */
  public abstract void step();

  /** Clears every gradient ({@code zero_grad(set_to_none=True)}). */
  public void zeroGrad() {
    for (Tensor p : params) {
      p.setGrad(null);
    }
  }

  /** The learning rate. */
  public double lr() {
    return lr;
  }

  /** Sets the learning rate for the next steps. */
  public void setLr(double value) {
    lr = value;
  }
}

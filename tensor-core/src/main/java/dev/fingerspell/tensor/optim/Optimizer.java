package dev.fingerspell.tensor.optim;

import dev.fingerspell.tensor.Tensor;
import java.util.List;
import java.util.Map;

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

  /**
   * Parameter {@code i}'s state (in the order given) under PyTorch's names, empty before its first
   * update: what a checkpoint keeps so that a resumed run steps as the uninterrupted one would. The
   * tensors are the live ones.
   */
  public abstract Map<String, Tensor> state(int i);

  /**
   * Restores parameter {@code i}'s state as {@link #state} gave it (the values are copied, onto the
   * parameter's device). A name this optimizer does not keep, or a wrong shape, is an error.
   */
  public abstract void loadState(int i, Map<String, Tensor> state);

  /** The parameters, in the order given. */
  public List<Tensor> parameters() {
    return params;
  }

  /** {@code values} copied into a new tensor shaped and placed as {@code like}. */
  protected static Tensor restored(Tensor like, Tensor values, String name) {
    if (!java.util.Arrays.equals(like.shape(), values.shape()) || like.dtype() != values.dtype()) {
      throw new IllegalArgumentException(
          name + ": " + values + " does not fit a parameter of " + like);
    }
    Tensor out = like.newZeros(like.shape());
    out.copyFrom(values);
    return out;
  }

  /** Refuses state names other than {@code known}. */
  protected static void requireOnly(Map<String, Tensor> state, java.util.Set<String> known) {
    for (String name : state.keySet()) {
      if (!known.contains(name)) {
        throw new IllegalArgumentException("unknown optimizer state '" + name + "'");
      }
    }
  }

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

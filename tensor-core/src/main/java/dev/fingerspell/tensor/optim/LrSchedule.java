package dev.fingerspell.tensor.optim;

/**
 * A learning rate as a function of the epoch (or step) count, in closed form as PyTorch's
 * schedulers document it. {@link #apply} sets it on an optimizer.
 */
@FunctionalInterface
public interface LrSchedule {
  /** The learning rate for epoch {@code t}, counting from 0. */
  double lr(int t);

  /** Sets the optimizer's rate for epoch {@code t}. */
  default void apply(Optimizer optimizer, int t) {
    optimizer.setLr(lr(t));
  }

  /**
   * {@code CosineAnnealingLR}: {@code etaMin + (base − etaMin)(1 + cos(π t / tMax)) / 2}; past
   * {@code tMax} the cosine goes on (rises again), as PyTorch's does.
   */
  static LrSchedule cosine(double base, int tMax, double etaMin) {
    if (tMax <= 0) {
      throw new IllegalArgumentException("cosine schedule needs tMax > 0");
    }
    return t -> etaMin + (base - etaMin) * (1 + Math.cos(Math.PI * t / tMax)) / 2;
  }

  /** {@code StepLR}: {@code base · gamma^(t / stepSize)}, integer division. */
  static LrSchedule step(double base, int stepSize, double gamma) {
    if (stepSize <= 0) {
      throw new IllegalArgumentException("step schedule needs stepSize > 0");
    }
    return t -> base * Math.pow(gamma, t / stepSize);
  }
}

package dev.fingerspell.tensor.optim;

import dev.fingerspell.tensor.Tensor;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code torch.optim.AdamW}: decoupled weight decay {@code p *= 1 − lr·wd}, then Adam with bias
 * correction, {@code p -= lr / (1 − β1ᵗ) · m / (sqrt(v) / sqrt(1 − β2ᵗ) + eps)}. The step count
 * {@code t} is kept per parameter, as PyTorch does.
 */
public final class AdamW extends Optimizer {
  private final double beta1;
  private final double beta2;
  private final double eps;
  private final double weightDecay;
  private final Map<Tensor, State> state = new IdentityHashMap<>();

  private static final class State {
    final Tensor expAvg;
    final Tensor expAvgSq;
    long step;

    State(Tensor p) {
      expAvg = p.newZeros(p.shape());
      expAvgSq = p.newZeros(p.shape());
    }
  }

  /** PyTorch's defaults but the learning rate: betas (0.9, 0.999), eps 1e-8, weight decay 0.01. */
  public AdamW(List<Tensor> params, double lr) {
    this(params, lr, 0.9, 0.999, 1e-8, 0.01);
  }

  /** AdamW with every option. */
  public AdamW(
      List<Tensor> params, double lr, double beta1, double beta2, double eps, double weightDecay) {
    super(params, lr);
    if (beta1 < 0 || beta1 >= 1 || beta2 < 0 || beta2 >= 1 || eps < 0 || weightDecay < 0) {
      throw new IllegalArgumentException(
          "AdamW needs 0 <= beta < 1, eps >= 0 and weight decay >= 0");
    }
    this.beta1 = beta1;
    this.beta2 = beta2;
    this.eps = eps;
    this.weightDecay = weightDecay;
  }

  @Override
  public void step() {
    for (Tensor p : params) {
      Tensor g = p.grad();
      if (g == null) {
        continue;
      }
      State s = state.computeIfAbsent(p, State::new);
      s.step++;
      p.backend()
          .adamwStep(
              p,
              g,
              s.expAvg,
              s.expAvgSq,
              (float) lr,
              (float) beta1,
              (float) beta2,
              (float) eps,
              (float) weightDecay,
              s.step);
    }
  }
}

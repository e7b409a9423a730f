package dev.fingerspell.tensor.optim;

import dev.fingerspell.tensor.DType;
import dev.fingerspell.tensor.Tensor;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

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
      this(p.newZeros(p.shape()), p.newZeros(p.shape()));
    }

    State(Tensor expAvg, Tensor expAvgSq) {
      this.expAvg = expAvg;
      this.expAvgSq = expAvgSq;
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
  public Map<String, Tensor> state(int i) {
    State s = state.get(params.get(i));
    if (s == null) {
      return Map.of();
    }
    Tensor step = Tensor.ofLongs(new long[] {s.step}, 1);
    return Map.of("step", step, "exp_avg", s.expAvg, "exp_avg_sq", s.expAvgSq);
  }

  @Override
  public void loadState(int i, Map<String, Tensor> saved) {
    requireOnly(saved, Set.of("step", "exp_avg", "exp_avg_sq"));
    Tensor p = params.get(i);
    if (saved.isEmpty()) {
      state.remove(p);
      return;
    }
    Tensor step = saved.get("step");
    if (step == null || step.numel() != 1 || step.dtype() != DType.INT64) {
      throw new IllegalArgumentException("AdamW state needs its step count, one int64");
    }
    if (!saved.containsKey("exp_avg") || !saved.containsKey("exp_avg_sq")) {
      throw new IllegalArgumentException("AdamW state needs exp_avg and exp_avg_sq");
    }
    State s =
        new State(
            restored(p, saved.get("exp_avg"), "exp_avg"),
            restored(p, saved.get("exp_avg_sq"), "exp_avg_sq"));
    s.step = step.toLongArray()[0];
    state.put(p, s);
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

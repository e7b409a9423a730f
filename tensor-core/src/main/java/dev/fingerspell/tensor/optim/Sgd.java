package dev.fingerspell.tensor.optim;

import dev.fingerspell.tensor.Tensor;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code torch.optim.SGD}: {@code d = g + wd·p}; with momentum, {@code buf = d} on the first step,
 * then {@code buf = μ·buf + (1 − dampening)·d}, and {@code d = d + μ·buf} (Nesterov) or {@code d =
 * buf}; finally {@code p -= lr·d}.
 */
public final class Sgd extends Optimizer {
  private final double momentum;
  private final double dampening;
  private final double weightDecay;
  private final boolean nesterov;
  private final Map<Tensor, Tensor> buffers = new IdentityHashMap<>();

  /** Plain SGD. */
  public Sgd(List<Tensor> params, double lr) {
    this(params, lr, 0, 0, 0, false);
  }

  /** SGD with every option of PyTorch's. */
  public Sgd(
      List<Tensor> params,
      double lr,
      double momentum,
      double dampening,
      double weightDecay,
      boolean nesterov) {
    super(params, lr);
    if (momentum < 0 || weightDecay < 0) {
      throw new IllegalArgumentException("momentum and weight decay must be >= 0");
    }
    if (nesterov && (momentum <= 0 || dampening != 0)) {
      throw new IllegalArgumentException("Nesterov momentum needs momentum > 0 and dampening 0");
    }
    this.momentum = momentum;
    this.dampening = dampening;
    this.weightDecay = weightDecay;
    this.nesterov = nesterov;
  }

  @Override
  public Map<String, Tensor> state(int i) {
    Tensor buf = buffers.get(params.get(i));
    return buf == null ? Map.of() : Map.of("momentum_buffer", buf);
  }

  @Override
  public void loadState(int i, Map<String, Tensor> state) {
    requireOnly(state, Set.of("momentum_buffer"));
    Tensor p = params.get(i);
    Tensor buf = state.get("momentum_buffer");
    if (buf == null) {
      buffers.remove(p);
    } else {
      buffers.put(p, restored(p, buf, "momentum_buffer"));
    }
  }

  @Override
  public void step() {
    for (Tensor p : params) {
      Tensor g = p.grad();
      if (g == null) {
        continue;
      }
      Tensor buf = null;
      boolean first = false;
      if (momentum != 0) {
        buf = buffers.get(p);
        if (buf == null) {
          buf = p.newZeros(p.shape());
          buffers.put(p, buf);
          first = true;
        }
      }
      p.backend()
          .sgdStep(
              p,
              g,
              buf,
              (float) lr,
              (float) momentum,
              (float) dampening,
              (float) weightDecay,
              nesterov,
              first);
    }
  }
}

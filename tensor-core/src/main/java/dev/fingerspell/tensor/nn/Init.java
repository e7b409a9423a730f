package dev.fingerspell.tensor.nn;

import dev.fingerspell.tensor.Rng;
import dev.fingerspell.tensor.Tensor;

/**
 * PyTorch's default initialisations, drawn from an explicit {@link Rng}. A null {@code rng} draws
 * nothing and gives zeros: for a model whose weights are loaded next (PyTorch's {@code skip_init}),
 * where drawing ResNet18's 11.7 million values would only be thrown away.
 */
public final class Init {
  private Init() {}

  /** Uniform in {@code [-bound, bound)}. */
  public static Tensor uniform(Rng rng, float bound, int... shape) {
    return rng == null ? Tensor.zeros(shape) : Tensor.uniform(rng, -bound, bound, shape);
  }

  /**
   * {@code kaiming_uniform_(w, a=sqrt(5))}, the default of {@code nn.Conv2d} and {@code nn.Linear}:
   * gain {@code sqrt(2 / (1 + a²))}, bound {@code gain * sqrt(3 / fan_in)}, which is {@code 1 /
   * sqrt(fan_in)}.
   */
  public static Tensor kaimingUniformDefault(Rng rng, int fanIn, int... shape) {
    double gain = Math.sqrt(2.0 / (1 + 5.0));
    return uniform(rng, (float) (gain * Math.sqrt(3.0 / fanIn)), shape);
  }

  /** The default bias of {@code nn.Conv2d} and {@code nn.Linear}: uniform in ±1/sqrt(fan_in). */
  public static Tensor defaultBias(Rng rng, int fanIn, int size) {
    return uniform(rng, (float) (1.0 / Math.sqrt(fanIn)), size);
  }

  /**
   * {@code kaiming_normal_(w, mode='fan_out', nonlinearity='relu')}, what timm's ResNet uses for
   * its convolutions: normal with std {@code sqrt(2 / fan_out)}.
   */
  public static Tensor kaimingNormalFanOut(Rng rng, int fanOut, int... shape) {
    if (rng == null) {
      return Tensor.zeros(shape);
    }
    return Tensor.randn(rng, shape).mul((float) Math.sqrt(2.0 / fanOut)).detach();
  }
}

package dev.fingerspell.tensor;

/**
 * Whether ops record a graph, per thread. Used as a try-with-resources scope:
 *
 * <pre>{@code
 * try (var scope = GradMode.noGrad()) {
 *   Tensor features = backbone.forward(images); // no graph, no saved activations
 * }
 * }</pre>
 */
public final class GradMode implements AutoCloseable {
  private static final ThreadLocal<Boolean> ENABLED = ThreadLocal.withInitial(() -> Boolean.TRUE);

  private final boolean previous;

  private GradMode(boolean enabled) {
    previous = ENABLED.get();
    ENABLED.set(enabled);
  }

  /** Turns graph recording off until the scope closes. */
  public static GradMode noGrad() {
    return new GradMode(false);
  }

  /** Turns graph recording on until the scope closes (inside a no-grad scope). */
  public static GradMode enableGrad() {
    return new GradMode(true);
  }

  /** Whether ops on this thread record a graph now. */
  public static boolean isEnabled() {
    return ENABLED.get();
  }

  @Override
  public void close() {
    ENABLED.set(previous);
  }
}

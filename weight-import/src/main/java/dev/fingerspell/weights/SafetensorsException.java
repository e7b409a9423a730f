package dev.fingerspell.weights;

/**
 * A safetensors file that cannot be read or written. The message is one line naming the file, the
 * tensor when there is one, and what is wrong.
 */
public final class SafetensorsException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** A message already in the one-line form. */
  public SafetensorsException(String message) {
    super(message);
  }

  /** A message already in the one-line form, with the cause kept for debugging. */
  public SafetensorsException(String message, Throwable cause) {
    super(message, cause);
  }

  static SafetensorsException of(Object file, String tensor, String what) {
    return new SafetensorsException(
        file + (tensor == null ? "" : ": tensor '" + tensor + "'") + ": " + what);
  }
}

package dev.fingerspell.weights;

/** A weight reference that cannot be resolved or downloaded; the message is one line. */
public final class WeightFetchException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** A one-line message. */
  public WeightFetchException(String message) {
    super(message);
  }

  /** A one-line message with its cause. */
  public WeightFetchException(String message, Throwable cause) {
    super(message, cause);
  }
}

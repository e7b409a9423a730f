package dev.fingerspell.train.data;

/** A data set that cannot be prepared or loaded; the message is one line. */
public final class DataException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** A one-line message. */
  public DataException(String message) {
    super(message);
  }

  /** A one-line message with its cause. */
  public DataException(String message, Throwable cause) {
    super(message, cause);
  }
}

package dev.fingerspell.train.training;

/** A run that cannot be resumed, and why, in one line for the user. */
public final class ResumeException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** An error whose message is shown as it is. */
  public ResumeException(String message) {
    super(message);
  }
}

package dev.fingerspell.train.config;

/** A configuration a user got wrong; the message is one line saying what and how to fix it. */
public final class ConfigException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** A one-line message. */
  public ConfigException(String message) {
    super(message);
  }
}

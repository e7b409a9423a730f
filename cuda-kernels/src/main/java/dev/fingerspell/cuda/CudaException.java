package dev.fingerspell.cuda;

/** A CUDA, cuDNN or cuBLAS call that failed; the message names the call and the library's words. */
public final class CudaException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** The status code the library returned. */
  private final int status;

  CudaException(String message, int status) {
    super(message);
    this.status = status;
  }

  /** The library's status code. */
  public int status() {
    return status;
  }
}

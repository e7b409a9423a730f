package dev.fingerspell.tensor;

/** Element types a tensor can hold: float32 for values, int64 for labels and counters. */
public enum DType {
  FLOAT32(4),
  INT64(8);

  private final int byteSize;

  DType(int byteSize) {
    this.byteSize = byteSize;
  }

  /** Bytes per element. */
  public int byteSize() {
    return byteSize;
  }
}

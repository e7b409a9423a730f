package dev.fingerspell.tensor.cpu;

import dev.fingerspell.tensor.DType;
import dev.fingerspell.tensor.Device;
import dev.fingerspell.tensor.Storage;
import dev.fingerspell.tensor.Tensor;

/** Host storage: a Java array, float[] or long[] by dtype. Only the CPU backend looks inside. */
final class CpuStorage implements Storage {
  final float[] floats;
  final long[] longs;

  CpuStorage(float[] floats) {
    this.floats = floats;
    this.longs = null;
  }

  CpuStorage(long[] longs) {
    this.floats = null;
    this.longs = longs;
  }

  static CpuStorage allocate(DType dtype, long numel) {
    if (numel > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException(
          "tensor of " + numel + " elements exceeds the CPU backend's 2^31 limit per storage");
    }
    return dtype == DType.INT64
        ? new CpuStorage(new long[(int) numel])
        : new CpuStorage(new float[(int) numel]);
  }

  @Override
  public Device device() {
    return Device.CPU;
  }

  @Override
  public DType dtype() {
    return floats != null ? DType.FLOAT32 : DType.INT64;
  }

  @Override
  public long numel() {
    return floats != null ? floats.length : longs.length;
  }

  /** The float array behind a CPU tensor. */
  static float[] f(Tensor t) {
    CpuStorage s = (CpuStorage) t.storage();
    if (s.floats == null) {
      throw new IllegalArgumentException("expected a float32 tensor, got " + t);
    }
    return s.floats;
  }

  /** The long array behind a CPU tensor. */
  static long[] l(Tensor t) {
    CpuStorage s = (CpuStorage) t.storage();
    if (s.longs == null) {
      throw new IllegalArgumentException("expected an int64 tensor, got " + t);
    }
    return s.longs;
  }

  /** The tensor's first element index in its array. */
  static int off(Tensor t) {
    return (int) t.offset();
  }
}

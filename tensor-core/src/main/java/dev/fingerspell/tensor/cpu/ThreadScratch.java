package dev.fingerspell.tensor.cpu;

/**
 * Per-thread float arrays kept between calls, a few numbered slots per owner: the kernels' packing
 * and column buffers are megabytes, and allocating (and zeroing) them per call costs more than some
 * calls compute. An array only grows; a user overwrites the prefix it asks for, so nothing is
 * cleared.
 */
final class ThreadScratch {
  private final ThreadLocal<float[][]> slots;

  ThreadScratch(int count) {
    slots = ThreadLocal.withInitial(() -> new float[count][]);
  }

  /** This thread's array in {@code slot}, at least {@code size} long. */
  float[] get(int slot, int size) {
    float[][] s = slots.get();
    if (s[slot] == null || s[slot].length < size) {
      s[slot] = new float[size];
    }
    return s[slot];
  }
}

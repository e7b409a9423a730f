package dev.fingerspell.weights;

/**
 * One tensor's entry in a safetensors header.
 *
 * @param name the tensor's name
 * @param dtype its element type
 * @param shape its dimensions (a 0-length array for a scalar)
 * @param begin the first byte, relative to the start of the data buffer
 * @param end one past the last byte
 */
public record TensorInfo(String name, SafeDType dtype, long[] shape, long begin, long end) {
  /** The number of elements. */
  public long numel() {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    return n;
  }

  /** The shape as ints, for a tensor that fits in memory. */
  public int[] intShape() {
    int[] s = new int[shape.length];
    for (int i = 0; i < s.length; i++) {
      s[i] = Math.toIntExact(shape[i]);
    }
    return s;
  }

  /** {@code [64, 3, 7, 7]}. */
  public String shapeString() {
    return java.util.Arrays.toString(shape);
  }
}

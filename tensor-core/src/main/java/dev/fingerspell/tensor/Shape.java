package dev.fingerspell.tensor;

import java.util.Arrays;

/** Helpers for shapes, which are plain {@code int[]} in row-major (NCHW) order. */
public final class Shape {
  private Shape() {}

  /** The number of elements of a shape; 1 for a 0-rank scalar. */
  public static long numel(int... shape) {
    long n = 1;
    for (int d : shape) {
      if (d < 0) {
        throw new IllegalArgumentException("negative dimension in shape " + format(shape));
      }
      n = Math.multiplyExact(n, d);
    }
    return n;
  }

  /** {@code [2, 3, 4]}. */
  public static String format(int... shape) {
    return Arrays.toString(shape);
  }

  /** Row-major strides, in elements. */
  public static long[] strides(int... shape) {
    long[] s = new long[shape.length];
    long acc = 1;
    for (int i = shape.length - 1; i >= 0; i--) {
      s[i] = acc;
      acc *= shape[i];
    }
    return s;
  }

  /**
   * The shape two operands broadcast to, by NumPy's rules (align trailing dimensions; a dimension
   * of 1 stretches).
   */
  public static int[] broadcast(int[] a, int[] b) {
    int rank = Math.max(a.length, b.length);
    int[] out = new int[rank];
    for (int i = 0; i < rank; i++) {
      int da = i < rank - a.length ? 1 : a[i - (rank - a.length)];
      int db = i < rank - b.length ? 1 : b[i - (rank - b.length)];
      if (da != db && da != 1 && db != 1) {
        throw new IllegalArgumentException(
            "shapes " + format(a) + " and " + format(b) + " do not broadcast");
      }
      out[i] = da == 1 ? db : da;
    }
    return out;
  }

  /**
   * Strides that read {@code shape} as if it were broadcast to {@code target}: 0 along every
   * stretched or missing dimension.
   */
  public static long[] broadcastStrides(int[] shape, int[] target) {
    long[] own = strides(shape);
    long[] out = new long[target.length];
    int lead = target.length - shape.length;
    for (int i = 0; i < target.length; i++) {
      int k = i - lead;
      out[i] = k < 0 || shape[k] == 1 ? 0 : own[k];
    }
    return out;
  }
}

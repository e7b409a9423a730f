package dev.fingerspell.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.fingerspell.tensor.ConvGeometry;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Max-pool backward against a plain search, on inputs full of ties (a ReLU's zeros, small integers)
 * and some NaNs, on rows wide enough that whole vectors of windows run beside the one-at-a-time
 * edges: the gradient of every window must land on the same input as PyTorch's.
 */
class CpuPoolTest {
  @ParameterizedTest(name = "n{0} c{1} {2}x{3} k{4} s{5} p{6}")
  @CsvSource({
    // ResNet's pool: 3×3, stride 2, padding 1; even and odd widths, rows of 1 to 3+ vectors
    "2, 3, 9, 70, 3, 2, 1",
    "1, 2, 7, 71, 3, 2, 1",
    "1, 1, 5, 112, 3, 2, 1",
    "3, 2, 6, 37, 3, 2, 1",
    // no padding: every window inside, the last plane's last vector stops short of the array's end
    "1, 2, 5, 68, 3, 2, 0",
    "2, 1, 4, 66, 3, 2, 0",
    // other geometries: one window at a time throughout
    "1, 2, 6, 40, 3, 1, 1",
    "1, 2, 6, 41, 2, 2, 0",
    "1, 1, 9, 50, 5, 2, 2"
  })
  void gradientGoesToTheFirstMaximum(int n, int c, int h, int w, int k, int s, int p) {
    ConvGeometry g = new ConvGeometry(n, c, h, w, c, k, k, s, s, p, p);
    for (String kind : new String[] {"relu", "integers", "nan"}) {
      float[] x = input(kind, n * c * h * w, new SplittableRandom(w * 31L + h + kind.length()));
      int outSize = n * c * g.outHeight() * g.outWidth();
      float[] y = new float[outSize];
      CpuPool.maxForward(g, x, 0, y, 0);
      float[] dy = new float[outSize];
      SplittableRandom r = new SplittableRandom(7);
      for (int i = 0; i < outSize; i++) {
        dy[i] = (float) r.nextDouble(-1, 1);
      }
      float[] expected = new float[x.length];
      for (int plane = 0; plane < n * c; plane++) {
        for (int oy = 0; oy < g.outHeight(); oy++) {
          for (int ox = 0; ox < g.outWidth(); ox++) {
            int o = (plane * g.outHeight() + oy) * g.outWidth() + ox;
            int at = firstMaximum(x, plane * h * w, g, oy, ox);
            assertEquals(x[at], y[o], 0f, kind + ": the forward maximum of window " + o);
            expected[at] += dy[o];
          }
        }
      }
      float[] dx = new float[x.length + 5];
      java.util.Arrays.fill(dx, 42f); // the plane is cleared, the rest of the array left alone
      CpuPool.maxBackward(g, x, 0, y, 0, dy, 0, dx, 0);
      assertArrayEquals(expected, java.util.Arrays.copyOf(dx, x.length), kind);
      assertEquals(42f, dx[x.length], kind + ": past the planes");
    }
  }

  /** The first in-bounds tap in row-major order equal to the window's maximum, or its first NaN. */
  private static int firstMaximum(float[] x, int plane, ConvGeometry g, int oy, int ox) {
    int h = g.inHeight();
    int w = g.inWidth();
    float m = Float.NEGATIVE_INFINITY;
    int at = -1;
    for (int ky = 0; ky < g.kernelH(); ky++) {
      for (int kx = 0; kx < g.kernelW(); kx++) {
        int iy = oy * g.strideH() - g.padH() + ky;
        int ix = ox * g.strideW() - g.padW() + kx;
        if (iy < 0 || iy >= h || ix < 0 || ix >= w) {
          continue;
        }
        float v = x[plane + iy * w + ix];
        if (Float.isNaN(v)) {
          return plane + iy * w + ix;
        }
        if (at < 0 || v > m) {
          m = v;
          at = plane + iy * w + ix;
        }
      }
    }
    return at;
  }

  private static float[] input(String kind, int size, SplittableRandom r) {
    float[] x = new float[size];
    for (int i = 0; i < size; i++) {
      x[i] =
          switch (kind) {
            case "relu" -> (float) Math.max(0, r.nextGaussian());
            case "integers" -> r.nextInt(3) - 1;
            default -> r.nextInt(40) == 0 ? Float.NaN : (float) r.nextGaussian();
          };
    }
    return x;
  }

  @Test
  void aWindowOfNegativesNeverPicksThePadding() {
    ConvGeometry g = new ConvGeometry(1, 1, 3, 40, 1, 3, 3, 2, 2, 1, 1);
    float[] x = new float[3 * 40];
    java.util.Arrays.fill(x, -1f);
    float[] y = new float[g.outHeight() * g.outWidth()];
    CpuPool.maxForward(g, x, 0, y, 0);
    float[] dy = new float[y.length];
    java.util.Arrays.fill(dy, 1f);
    float[] dx = new float[x.length];
    CpuPool.maxBackward(g, x, 0, y, 0, dy, 0, dx, 0);
    // Every window's first in-bounds tap: row 0, columns 0, 1, 3, 5, ... (window ox starts at
    // 2ox-1)
    float[] expected = new float[x.length];
    for (int oy = 0; oy < g.outHeight(); oy++) {
      for (int ox = 0; ox < g.outWidth(); ox++) {
        expected[Math.max(2 * oy - 1, 0) * 40 + Math.max(2 * ox - 1, 0)] += 1f;
      }
    }
    assertArrayEquals(expected, dx);
  }
}

package dev.fingerspell.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.junit.jupiter.api.Test;

/**
 * {@link VectorMath} gives the bits of a scalar sequence of the same IEEE operations, before and
 * after the JIT has compiled it (the vector API's own {@code reduceLanes(ADD)} and {@code EXP} do
 * not), and its exp stays within an ulp of {@link Math#exp}.
 */
class VectorMathTest {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int L = S.length();

  @Test
  void sumsLanesInOrder() {
    SplittableRandom random = new SplittableRandom(7);
    float[] a = new float[L * 4096];
    for (int i = 0; i < a.length; i++) {
      a[i] = (float) (random.nextGaussian() * Math.pow(10, random.nextInt(-3, 4)));
    }
    // The first calls may run in the fallback, the last ones compiled: all must match.
    for (int round = 0; round < 40; round++) {
      for (int at = 0; at < a.length; at += L) {
        double expected = 0;
        for (int l = 0; l < L; l++) {
          expected += a[at + l];
        }
        FloatVector v = FloatVector.fromArray(S, a, at);
        assertEquals(expected, VectorMath.sumLanes(v), 0.0, "lanes from " + at);
        double firstHalf = 0;
        for (int l = 0; l < L / 2; l++) {
          firstHalf += a[at + l];
        }
        assertEquals(firstHalf, VectorMath.sumLanes(v, S.indexInRange(0, L / 2)), 0.0);
      }
    }
  }

  @Test
  void expIsItsScalarSequenceCompiledOrNot() {
    SplittableRandom random = new SplittableRandom(11);
    float[] x = new float[L * 4096];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) random.nextDouble(-100, 100);
    }
    float[] y = new float[x.length];
    for (int round = 0; round < 40; round++) {
      for (int at = 0; at < x.length; at += L) {
        VectorMath.exp(FloatVector.fromArray(S, x, at)).intoArray(y, at);
      }
      for (int i = 0; i < x.length; i++) {
        assertEquals(
            Float.floatToIntBits(scalarExp(x[i])),
            Float.floatToIntBits(y[i]),
            "exp(" + x[i] + ") in round " + round);
      }
    }
  }

  @Test
  void expIsWithinAnUlpOfMathExp() {
    float[] x = new float[L * 65536];
    float lo = -87.3f;
    float hi = 88.72283f;
    for (int i = 0; i < x.length; i++) {
      x[i] = lo + (hi - lo) * i / (x.length - 1);
    }
    x[0] = 0f;
    x[1] = -0f;
    x[2] = Float.MIN_VALUE;
    x[3] = -1e-7f;
    float[] y = new float[x.length];
    for (int at = 0; at < x.length; at += L) {
      VectorMath.exp(FloatVector.fromArray(S, x, at)).intoArray(y, at);
    }
    double worst = 0;
    for (int i = 0; i < x.length; i++) {
      double exact = Math.exp(x[i]);
      double ulps = Math.abs(y[i] - exact) / Math.ulp((float) exact);
      worst = Math.max(worst, ulps);
    }
    assertTrue(worst <= 1, "worst error " + worst + " ulp");
    assertEquals(1f, y[0]);
    assertEquals(1f, y[1]);
  }

  @Test
  void expHandlesTheEnds() {
    float[] x = new float[L];
    float[] expected = new float[L];
    float[][] cases = {
      {Float.NaN, Float.NaN},
      {Float.POSITIVE_INFINITY, Float.POSITIVE_INFINITY},
      {Float.NEGATIVE_INFINITY, 0f},
      {89f, Float.POSITIVE_INFINITY},
      {-88f, 0f}, // subnormal in Math.exp, flushed here
      {-1000f, 0f},
      {1000f, Float.POSITIVE_INFINITY},
      {88.7f, (float) Math.exp(88.7f)}
    };
    for (int l = 0; l < L; l++) {
      float[] c = cases[l % cases.length];
      x[l] = c[0];
      expected[l] = c[1];
    }
    float[] y = VectorMath.exp(FloatVector.fromArray(S, x, 0)).toArray();
    for (int l = 0; l < L; l++) {
      if (l % cases.length == cases.length - 1) {
        assertEquals(expected[l], y[l], Math.ulp(expected[l]), "exp(" + x[l] + ")");
      } else {
        assertEquals(expected[l], y[l], 0f, "exp(" + x[l] + ")");
      }
    }
  }

  /**
   * No CPU kernel goes back to the vector API's own float sums or transcendental functions, whose
   * bits change when C2 compiles them (the class comment of {@link VectorMath}).
   */
  @Test
  void kernelsUseNoOperationWhoseBitsDependOnTheJit() throws IOException {
    Pattern unstable =
        Pattern.compile(
            "reduceLanes\\(\\s*VectorOperators\\.(ADD|MUL)\\b"
                + "|VectorOperators\\.(EXP|EXPM1|LOG|LOG1P|LOG10|POW|HYPOT|CBRT"
                + "|SIN|COS|TAN|ASIN|ACOS|ATAN|ATAN2|SINH|COSH|TANH)\\b");
    Path sources = Path.of("src/main/java");
    assertTrue(Files.isDirectory(sources), "run from the module's folder");
    List<String> found;
    try (Stream<Path> files = Files.walk(sources)) {
      found =
          files
              .filter(f -> f.toString().endsWith(".java"))
              .filter(f -> !f.getFileName().toString().equals("VectorMath.java"))
              .flatMap(
                  f -> {
                    try {
                      return Files.readAllLines(f).stream()
                          .filter(line -> unstable.matcher(line).find())
                          .map(line -> sources.relativize(f) + ": " + line.strip());
                    } catch (IOException e) {
                      throw new java.io.UncheckedIOException(e);
                    }
                  })
              .toList();
    }
    assertEquals(List.of(), found, "use VectorMath instead");
  }

  /** {@link VectorMath#exp}, one lane, operation for operation. */
  private static float scalarExp(float x) {
    if (Float.isNaN(x)) {
      return x;
    }
    if (x > 88.72283f) {
      return Float.POSITIVE_INFINITY;
    }
    if (x < -87.33654f) {
      return 0f;
    }
    float n = x * 1.44269504f + 0x1.8p23f - 0x1.8p23f;
    float r = Math.fma(n, -0.693359375f, x);
    r = Math.fma(n, 2.12194440e-4f, r);
    float p = 1.9875691500e-4f;
    p = Math.fma(p, r, 1.3981999507e-3f);
    p = Math.fma(p, r, 8.3334519073e-3f);
    p = Math.fma(p, r, 4.1665795894e-2f);
    p = Math.fma(p, r, 1.6666665459e-1f);
    p = Math.fma(p, r, 5.0000001201e-1f);
    float er = p * (r * r) + r + 1f;
    int n1 = (int) n >> 1;
    int n2 = (int) n - n1;
    return er * Float.intBitsToFloat((n1 + 127) << 23) * Float.intBitsToFloat((n2 + 127) << 23);
  }
}

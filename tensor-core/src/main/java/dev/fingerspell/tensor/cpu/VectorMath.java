package dev.fingerspell.tensor.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector arithmetic that gives the same bits whether the vector API runs as C2's intrinsics or as
 * its Java fallback (before the JIT compiles a method, or where it gives up). Two of the API's
 * operations do not: {@code reduceLanes(ADD)} leaves its order open and the two orders differ, and
 * {@code lanewise(EXP)} is a different approximation in C2 (SVML) than in the fallback ({@link
 * Math#exp}). A plane's sum came out a few ulps apart before and after compilation, so batch-norm
 * statistics, and with them a whole training run, depended on when the compiler got there. These
 * use only operations IEEE 754 defines exactly.
 */
final class VectorMath {
  private VectorMath() {}

  /** The lanes' sum, lane 0 first, in double. */
  static double sumLanes(FloatVector v) {
    double s = 0;
    for (float f : v.toArray()) {
      s += f;
    }
    return s;
  }

  /** The sum of the lanes {@code m} selects, lane 0 first, in double. */
  static double sumLanes(FloatVector v, VectorMask<Float> m) {
    return sumLanes(FloatVector.zero(v.species()).blend(v, m));
  }

  private static final float LOG2E = 1.44269504f;
  // ln 2 in two parts: n · LN2_HI is exact for the n that occur, so r = x − n ln 2 loses nothing.
  private static final float LN2_HI = 0.693359375f;
  private static final float LN2_LO = -2.12194440e-4f;

  /** Adding and subtracting 1.5 · 2^23 rounds a float below 2^22 to an integer (ties to even). */
  private static final float ROUND = 0x1.8p23f;

  /** Above this e^x overflows; below {@link #UNDERFLOW} it is 0 here (subnormal in Math.exp). */
  private static final float OVERFLOW = 88.72283f;

  private static final float UNDERFLOW = -87.33654f;

  /**
   * e^x to within 1 ulp of {@link Math#exp} (0.98 ulp at worst over every float from -87.3 to the
   * overflow; results below 2^-126 are flushed to 0): x = n ln 2 + r with |r| ≤ ln 2 / 2, e^r as a
   * degree-7 polynomial (Cephes' expf coefficients), times 2^n built in the exponent bits.
   */
  static FloatVector exp(FloatVector x) {
    VectorSpecies<Float> s = x.species();
    FloatVector c = x.max(UNDERFLOW).min(OVERFLOW);
    FloatVector n = c.mul(LOG2E).add(ROUND).sub(ROUND);
    FloatVector r = n.fma(FloatVector.broadcast(s, -LN2_HI), c);
    r = n.fma(FloatVector.broadcast(s, -LN2_LO), r);
    FloatVector p = FloatVector.broadcast(s, 1.9875691500e-4f);
    p = p.fma(r, FloatVector.broadcast(s, 1.3981999507e-3f));
    p = p.fma(r, FloatVector.broadcast(s, 8.3334519073e-3f));
    p = p.fma(r, FloatVector.broadcast(s, 4.1665795894e-2f));
    p = p.fma(r, FloatVector.broadcast(s, 1.6666665459e-1f));
    p = p.fma(r, FloatVector.broadcast(s, 5.0000001201e-1f));
    FloatVector er = p.mul(r.mul(r)).add(r).add(1f);
    // 2^n in two halves, each a normal float for every n here (-126 to 128)
    IntVector n2 = (IntVector) n.convert(VectorOperators.F2I, 0);
    IntVector n1 = n2.lanewise(VectorOperators.ASHR, 1);
    n2 = n2.sub(n1);
    FloatVector y = er.mul(pow2(n1)).mul(pow2(n2));
    y = y.blend(Float.POSITIVE_INFINITY, x.compare(VectorOperators.GT, OVERFLOW));
    y = y.blend(0f, x.compare(VectorOperators.LT, UNDERFLOW));
    return y.blend(x, x.test(VectorOperators.IS_NAN));
  }

  /** 2^k for -126 ≤ k ≤ 127, built in the exponent bits. */
  private static FloatVector pow2(IntVector k) {
    return k.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
  }
}

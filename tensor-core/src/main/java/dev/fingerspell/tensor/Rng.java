package dev.fingerspell.tensor;

/**
 * A seeded random source whose sequence is the same on every JVM and platform: SplitMix64 for bits,
 * 24-bit floats for uniforms, Box-Muller through {@link StrictMath} for normals. It is small enough
 * to reimplement in a few lines of Python, so test generators can draw the same numbers.
 */
public final class Rng {
  private long state;

  /** A generator starting at {@code seed}. */
  public Rng(long seed) {
    this.state = seed;
  }

  /** The next 64 random bits (SplitMix64). */
  public long nextLong() {
    long z = (state += 0x9E3779B97F4A7C15L);
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  /** Uniform in [0, 1) with 24 random bits, exact in float32. */
  public float nextFloat() {
    return (nextLong() >>> 40) * 0x1.0p-24f;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  public double nextDouble() {
    return (nextLong() >>> 11) * 0x1.0p-53;
  }

  /** Uniform in [lo, hi). */
  public float uniform(float lo, float hi) {
    return lo + (hi - lo) * nextFloat();
  }

  /**
   * A standard normal by Box-Muller; each call draws two uniforms and returns the cosine branch,
   * which keeps the sequence trivial to reproduce elsewhere.
   */
  public double nextGaussian() {
    double u1 = 1.0 - nextDouble(); // (0, 1]: log stays finite
    double u2 = nextDouble();
    return StrictMath.sqrt(-2.0 * StrictMath.log(u1)) * StrictMath.cos(2.0 * Math.PI * u2);
  }

  /** A uniform index in [0, bound). */
  public int nextInt(int bound) {
    if (bound <= 0) {
      throw new IllegalArgumentException("bound must be positive");
    }
    return (int) Long.remainderUnsigned(nextLong(), bound);
  }
}

package dev.fingerspell.tensor.cpu;

import dev.fingerspell.tensor.ConvGeometry;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * 3×3, stride-1, pad-1 convolution as Winograd F(4×4, 3×3) (Lavin and Gray, 2015): each 4×4 block
 * of output comes from a 6×6 block of input through 36 products instead of 144 per channel pair.
 *
 * <pre>
 *   U = G g Gᵀ      per (out, in) filter, once: 36 matrices [OC, IC], packed for the GEMM
 *   V = Bᵀ d B      per (tile, in) input block: 36 matrices [IC, tiles], packed as GEMM panels
 *   M = U · V       36 GEMMs
 *   y = Aᵀ M A      per (out, tile): a 4×4 block, then bias, residual and ReLU
 * </pre>
 *
 * Work goes one GEMM panel of 48 tiles at a time (tiles numbered across the whole batch), each
 * panel's transforms and products on one worker, so the intermediates stay in its cache; with fewer
 * panels than workers, panels are split by output channels too. Interpolation points 0, ±1, ±2: in
 * float32 the logits of ResNet18 stay within about 1e-6 of the direct convolution, well inside the
 * 1e-4 contract (see the ResNet parity test).
 */
final class CpuWinograd {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int L = S.length();
  private static final int NR = CpuGemm.NR;
  private static final int VECTORS = NR / L;

  /** G, 6 × 3. */
  private static final double[][] G = {
    {1 / 4.0, 0, 0},
    {-1 / 6.0, -1 / 6.0, -1 / 6.0},
    {-1 / 6.0, 1 / 6.0, -1 / 6.0},
    {1 / 24.0, 1 / 12.0, 1 / 6.0},
    {1 / 24.0, -1 / 12.0, 1 / 6.0},
    {0, 0, 1}
  };

  private CpuWinograd() {}

  /** Whether the geometry is one this computes: 3×3, stride 1, padding 1. */
  static boolean applies(ConvGeometry g) {
    return g.isSquare(3, 1, 1);
  }

  /** 4×4 output tiles over the whole batch. */
  static int tiles(ConvGeometry g) {
    return g.batch() * ((g.outHeight() + 3) / 4) * ((g.outWidth() + 3) / 4);
  }

  /** The 36 transformed filter matrices {@code U[ξν] = (G g Gᵀ)[ξ][ν]}, each packed as GEMM A. */
  static float[][] transformWeights(ConvGeometry g, float[] w, int wOff) {
    int oc = g.outChannels();
    int ic = g.inChannels();
    // One transform-domain matrix at a time, packed as soon as it is built: the packed copies
    // are 4× the 3×3 weights already, so no unpacked set is kept beside them.
    float[][] packed = new float[36][];
    float[] u = new float[oc * ic];
    for (int i = 0; i < 6; i++) {
      for (int j = 0; j < 6; j++) {
        for (int f = 0; f < oc * ic; f++) {
          double acc = 0; // (G g Gᵀ)[i][j] = Σ_k Σ_l G[i][k] g[k][l] G[j][l]
          for (int k = 0; k < 3; k++) {
            int at = wOff + f * 9 + k * 3;
            acc += G[i][k] * (w[at] * G[j][0] + w[at + 1] * G[j][1] + w[at + 2] * G[j][2]);
          }
          u[f] = (float) acc;
        }
        packed[i * 6 + j] =
            CpuGemm.packA(false, oc, ic, u, 0, new float[CpuGemm.packedASize(oc, ic)]);
      }
    }
    return packed;
  }

  /** Per-worker buffers: a V panel, M products, one transform's rows, and the tile tables. */
  private static final class Scratch {
    float[] v = new float[0];
    float[] m = new float[0];
    final float[] rows = new float[36 * L];
    final int[] inIndex = new int[36 * NR];
    final long[] inMask = new long[36 * VECTORS];
    final int[] outIndex = new int[16 * NR];
    final long[] outMask = new long[16 * VECTORS];
  }

  private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

  /**
   * {@code y = act(conv(x, w) + bias + residual)} with {@code u} from {@link #transformWeights}.
   */
  static void forward(
      ConvGeometry g, float[] x, int xOff, float[][] u, CpuConv.Epilogue ep, float[] y, int yOff) {
    int tiles = tiles(g);
    int panels = (tiles + NR - 1) / NR;
    int ic = g.inChannels();
    int oc = g.outChannels();
    int panelSize = 36 * ic * NR;
    // With fewer panels than workers each is also split by output channels, so that every worker
    // has a share. The parts of a panel share its transformed input, built first, in parallel,
    // split by input channels. Splitting further, to even out 5 panels on 2 workers (layer1 at
    // batch 1), cost more than the imbalance: 1.12-1.15 ms against 0.70-0.77 ms (JMH).
    int slivers = (oc + CpuGemm.MR - 1) / CpuGemm.MR;
    int parts = Math.min(slivers, (Parallel.threads() + panels - 1) / panels);
    int sliversPerPart = (slivers + parts - 1) / parts;
    float[] shared = parts == 1 ? null : SHARED.get(0, panels * panelSize);
    if (shared != null) {
      int channelParts = Math.min(ic, parts);
      Parallel.forRange(
          panels * channelParts,
          1,
          (lo, hi) -> {
            Scratch s = SCRATCH.get();
            for (int item = lo; item < hi; item++) {
              int p = item / channelParts;
              int c0 = (int) ((long) ic * (item % channelParts) / channelParts);
              int c1 = (int) ((long) ic * (item % channelParts + 1) / channelParts);
              inputTransform(g, x, xOff, p * NR, tiles, c0, c1, s, shared, p * panelSize);
            }
          });
    }
    Parallel.forRange(
        panels * parts,
        1,
        (lo, hi) -> {
          Scratch s = SCRATCH.get();
          if (shared == null && s.v.length < panelSize) {
            s.v = new float[panelSize];
          }
          if (s.m.length < 36 * oc * NR) {
            s.m = new float[36 * oc * NR];
          }
          float[] v = shared == null ? s.v : shared;
          for (int item = lo; item < hi; item++) {
            int p = item / parts;
            int s0 = item % parts * sliversPerPart;
            int s1 = Math.min(slivers, s0 + sliversPerPart);
            if (s0 >= s1) {
              continue;
            }
            int vOff = shared == null ? 0 : p * panelSize;
            if (shared == null) {
              inputTransform(g, x, xOff, p * NR, tiles, 0, ic, s, v, 0);
            }
            int o0 = s0 * CpuGemm.MR;
            int o1 = Math.min(oc, s1 * CpuGemm.MR);
            for (int e = 0; e < 36; e++) { // only this part's rows of M are added into
              java.util.Arrays.fill(s.m, (e * oc + o0) * NR, (e * oc + o1) * NR, 0f);
            }
            int cols = Math.min(NR, tiles - p * NR); // the last panel's tiles
            for (int e = 0; e < 36; e++) {
              CpuGemm.panelColumns(
                  oc, NR, cols, ic, 1f, u[e], v, vOff + e * ic * NR, s.m, e * oc * NR, s0, s1);
            }
            outputTransform(g, p * NR, tiles, ep, y, yOff, s, o0, o1);
          }
        });
  }

  /**
   * The vectors of the panel from tile {@code first} that hold tiles: the GEMM reads only those
   * ({@link CpuGemm#panelColumns} on a narrow panel), so the transforms skip the rest. Layer2's
   * second panel at batch 1 is one tile: a third of the full panel's transforms.
   */
  private static int vectors(int first, int tiles) {
    return (Math.min(NR, tiles - first) + L - 1) / L;
  }

  /** The caller's buffer for every panel's transformed input, when parts of a panel share it. */
  private static final ThreadScratch SHARED = new ThreadScratch(1);

  /** The row (or column) transform by Bᵀ: six values in place at {@code t[at + k·stride]}. */
  private static void inputRow(float[] t, int at, int stride) {
    FloatVector x0 = FloatVector.fromArray(S, t, at);
    FloatVector x1 = FloatVector.fromArray(S, t, at + stride);
    FloatVector x2 = FloatVector.fromArray(S, t, at + 2 * stride);
    FloatVector x3 = FloatVector.fromArray(S, t, at + 3 * stride);
    FloatVector x4 = FloatVector.fromArray(S, t, at + 4 * stride);
    FloatVector x5 = FloatVector.fromArray(S, t, at + 5 * stride);
    FloatVector a = x4.sub(x2.mul(4f)); // x4 − 4x2
    FloatVector b = x3.sub(x1.mul(4f)); // x3 − 4x1
    FloatVector c = x4.sub(x2); // x4 − x2
    FloatVector d = x3.sub(x1).mul(2f); // 2(x3 − x1)
    x0.mul(4f).sub(x2.mul(5f)).add(x4).intoArray(t, at);
    a.add(b).intoArray(t, at + stride);
    a.sub(b).intoArray(t, at + 2 * stride);
    c.add(d).intoArray(t, at + 3 * stride);
    c.sub(d).intoArray(t, at + 4 * stride);
    x1.mul(4f).sub(x3.mul(5f)).add(x5).intoArray(t, at + 5 * stride);
  }

  /**
   * Tiles {@code [first, first + NR)}, input channels {@code [c0, c1)}: gathers each channel's 6×6
   * input blocks (padding and tiles past the batch read as 0), transforms them and writes their
   * rows of V, 36 packed panels of [IC, NR], at {@code v[vOff ..]}.
   */
  private static void inputTransform(
      ConvGeometry g,
      float[] x,
      int xOff,
      int first,
      int tiles,
      int c0,
      int c1,
      Scratch s,
      float[] v,
      int vOff) {
    int h = g.inHeight();
    int w = g.inWidth();
    int ty = (g.outHeight() + 3) / 4;
    int tx = (g.outWidth() + 3) / 4;
    int perImage = ty * tx;
    int inImage = g.inChannels() * h * w;
    java.util.Arrays.fill(s.inMask, 0L);
    for (int t = 0; t < NR; t++) {
      int tile = first + t;
      if (tile >= tiles) {
        for (int k = 0; k < 36; k++) {
          s.inIndex[k * NR + t] = 0;
        }
        continue;
      }
      int img = tile / perImage;
      int y0 = tile % perImage / tx * 4 - 1;
      int x0 = tile % tx * 4 - 1;
      for (int i = 0; i < 6; i++) {
        for (int j = 0; j < 6; j++) {
          int iy = y0 + i;
          int ix = x0 + j;
          boolean in = iy >= 0 && iy < h && ix >= 0 && ix < w;
          s.inIndex[(i * 6 + j) * NR + t] = in ? img * inImage + iy * w + ix : 0;
          if (in) {
            s.inMask[(i * 6 + j) * VECTORS + t / L] |= 1L << (t % L);
          }
        }
      }
    }
    int ic = g.inChannels();
    float[] rows = s.rows;
    int vectors = vectors(first, tiles);
    for (int c = c0; c < c1; c++) {
      int off = xOff + c * h * w;
      for (int q = 0; q < vectors; q++) {
        for (int k = 0; k < 36; k++) {
          FloatVector.fromArray(
                  S,
                  x,
                  off,
                  s.inIndex,
                  k * NR + q * L,
                  VectorMask.fromLong(S, s.inMask[k * VECTORS + q]))
              .intoArray(rows, k * L);
        }
        for (int i = 0; i < 6; i++) {
          inputRow(rows, i * 6 * L, L); // d B, row by row
        }
        for (int j = 0; j < 6; j++) {
          inputRow(rows, j * L, 6 * L); // Bᵀ (d B), column by column
        }
        for (int k = 0; k < 36; k++) {
          FloatVector.fromArray(S, rows, k * L).intoArray(v, vOff + (k * ic + c) * NR + q * L);
        }
      }
    }
  }

  /** The transform by Aᵀ: six values at {@code t[at + k·stride]} to four, in place. */
  private static void outputRow(float[] t, int at, int stride) {
    FloatVector m0 = FloatVector.fromArray(S, t, at);
    FloatVector m1 = FloatVector.fromArray(S, t, at + stride);
    FloatVector m2 = FloatVector.fromArray(S, t, at + 2 * stride);
    FloatVector m3 = FloatVector.fromArray(S, t, at + 3 * stride);
    FloatVector m4 = FloatVector.fromArray(S, t, at + 4 * stride);
    FloatVector m5 = FloatVector.fromArray(S, t, at + 5 * stride);
    FloatVector a = m1.add(m2);
    FloatVector b = m1.sub(m2);
    FloatVector c = m3.add(m4);
    FloatVector d = m3.sub(m4);
    m0.add(a).add(c).intoArray(t, at);
    b.add(d.mul(2f)).intoArray(t, at + stride);
    a.add(c.mul(4f)).intoArray(t, at + 2 * stride);
    b.add(d.mul(8f)).add(m5).intoArray(t, at + 3 * stride);
  }

  /**
   * Tiles {@code [first, first + NR)}, output channels {@code [o0, o1)}: y = Aᵀ M A, then the
   * epilogue.
   */
  private static void outputTransform(
      ConvGeometry g,
      int first,
      int tiles,
      CpuConv.Epilogue ep,
      float[] y,
      int yOff,
      Scratch s,
      int o0,
      int o1) {
    int oh = g.outHeight();
    int ow = g.outWidth();
    int ty = (oh + 3) / 4;
    int tx = (ow + 3) / 4;
    int perImage = ty * tx;
    int oc = g.outChannels();
    int outImage = oc * oh * ow;
    java.util.Arrays.fill(s.outMask, 0L);
    for (int t = 0; t < NR; t++) {
      int tile = first + t;
      int img = tile / perImage;
      int y0 = tile % perImage / tx * 4;
      int x0 = tile % tx * 4;
      for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 4; j++) {
          boolean in = tile < tiles && y0 + i < oh && x0 + j < ow;
          s.outIndex[(i * 4 + j) * NR + t] = in ? img * outImage + (y0 + i) * ow + x0 + j : 0;
          if (in) {
            s.outMask[(i * 4 + j) * VECTORS + t / L] |= 1L << (t % L);
          }
        }
      }
    }
    float[] rows = s.rows;
    float[] res = ep.residual();
    FloatVector floor = FloatVector.broadcast(S, ep.relu() ? 0f : Float.NEGATIVE_INFINITY);
    int vectors = vectors(first, tiles);
    for (int o = o0; o < o1; o++) {
      FloatVector bias =
          FloatVector.broadcast(S, ep.bias() == null ? 0f : ep.bias()[ep.biasOff() + o]);
      int plane = o * oh * ow;
      for (int v = 0; v < vectors; v++) {
        for (int k = 0; k < 36; k++) {
          FloatVector.fromArray(S, s.m, (k * oc + o) * NR + v * L).intoArray(rows, k * L);
        }
        for (int i = 0; i < 6; i++) {
          outputRow(rows, i * 6 * L, L); // M A: row i keeps its first four
        }
        for (int j = 0; j < 4; j++) {
          outputRow(rows, j * L, 6 * L); // Aᵀ (M A): column j, first four rows
        }
        for (int i = 0; i < 4; i++) {
          for (int j = 0; j < 4; j++) {
            int map = (i * 4 + j) * NR + v * L;
            VectorMask<Float> in = VectorMask.fromLong(S, s.outMask[(i * 4 + j) * VECTORS + v]);
            FloatVector r = FloatVector.fromArray(S, rows, (i * 6 + j) * L).add(bias);
            if (res != null) {
              r =
                  r.add(
                      FloatVector.fromArray(S, res, ep.residualOff() + plane, s.outIndex, map, in));
            }
            r.max(floor).intoArray(y, yOff + plane, s.outIndex, map, in);
          }
        }
      }
    }
  }
}

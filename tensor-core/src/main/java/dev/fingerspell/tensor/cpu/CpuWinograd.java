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
  private static final int MR = CpuGemm.MR;

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
    return transformWeights(g, w, wOff, false);
  }

  /**
   * The same matrices transposed, {@code U[ξν]ᵀ [IC, OC]}, each packed as GEMM B panels of output
   * channels: the weights of {@link #forwardTileMajor}.
   */
  static float[][] transformWeightsTileMajor(ConvGeometry g, float[] w, int wOff) {
    return transformWeights(g, w, wOff, true);
  }

  private static float[][] transformWeights(
      ConvGeometry g, float[] w, int wOff, boolean tileMajor) {
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
            tileMajor
                ? CpuGemm.packB(
                    new CpuGemm.Operand(true, u, 0), oc, ic, new float[CpuGemm.packedBSize(oc, ic)])
                : CpuGemm.packA(false, oc, ic, u, 0, new float[CpuGemm.packedASize(oc, ic)]);
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
    final int[] planes = new int[L];
    final int[] lastPlanes = new int[L];
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
    int slivers = (oc + MR - 1) / MR;
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
              inputTransform(g, x, xOff, p * NR, tiles, c0, c1, s, shared, p * panelSize, 0);
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
              inputTransform(g, x, xOff, p * NR, tiles, 0, ic, s, v, 0, 0);
            }
            int o0 = s0 * MR;
            int o1 = Math.min(oc, s1 * MR);
            for (int e = 0; e < 36; e++) { // only this part's rows of M are added into
              java.util.Arrays.fill(s.m, (e * oc + o0) * NR, (e * oc + o1) * NR, 0f);
            }
            int cols = Math.min(NR, tiles - p * NR); // the last panel's tiles
            for (int e = 0; e < 36; e++) {
              CpuGemm.panelColumns(
                  oc, NR, cols, ic, 1f, u[e], 0, v, vOff + e * ic * NR, s.m, e * oc * NR, s0, s1);
            }
            outputTransform(g, p * NR, tiles, ep, y, yOff, s, o0, o1);
          }
        });
  }

  /**
   * Whether {@link #forwardTileMajor} computes this layer: a batch of at least two slivers of tiles
   * and at most one panel (layer3 at batch 1 is 16 tiles), on a machine whose vector is one or two
   * slivers' rows. With fewer tiles (layer4 at batch 1 has 4) the transformed weights, 4× the
   * direct ones, are read for too few products: layer4 ran 0.33 ms slower a convolution.
   */
  static boolean tileMajor(ConvGeometry g) {
    int tiles = tiles(g);
    return applies(g) && tiles >= 2 * MR && tiles <= NR && (L == MR || L == 2 * MR);
  }

  /**
   * The same convolution as {@link #forward} with the products turned over, {@code Mᵀ = Vᵀ · Uᵀ}:
   * tiles are the GEMM's rows, output channels its columns, {@code u} from {@link
   * #transformWeightsTileMajor}. With 16 tiles the channel-major product is one vector wide, so the
   * kernel loads a weight for every 16 multiply-adds; here each row of weights is three vectors
   * that 8 tiles use. The input transform is split by input channels, then each worker takes a
   * share of output channels (whole vectors) through all 36 products and the output transform.
   */
  static void forwardTileMajor(
      ConvGeometry g, float[] x, int xOff, float[][] u, CpuConv.Epilogue ep, float[] y, int yOff) {
    int tiles = tiles(g);
    int ic = g.inChannels();
    int oc = g.outChannels();
    int rows = (tiles + MR - 1) / MR * MR;
    int pointSize = CpuGemm.packedASize(tiles, ic);
    float[] v = SHARED.get(0, 36 * pointSize);
    int channelParts = Math.min(ic, Parallel.threads());
    Parallel.forRange(
        channelParts,
        1,
        (lo, hi) -> {
          Scratch s = SCRATCH.get();
          for (int part = lo; part < hi; part++) {
            int c0 = (int) ((long) ic * part / channelParts);
            int c1 = (int) ((long) ic * (part + 1) / channelParts);
            inputTransform(g, x, xOff, 0, tiles, c0, c1, s, v, 0, pointSize);
          }
        });
    int ocVectors = (oc + L - 1) / L;
    int parts = Math.min(ocVectors, Parallel.threads());
    Parallel.forRange(
        parts,
        1,
        (lo, hi) -> {
          Scratch s = SCRATCH.get();
          for (int part = lo; part < hi; part++) {
            int o0 = (int) ((long) ocVectors * part / parts) * L;
            int o1 = Math.min(oc, (int) ((long) ocVectors * (part + 1) / parts) * L);
            int ldc = (o1 - o0 + L - 1) / L * L;
            if (s.m.length < 36 * rows * ldc) {
              s.m = new float[36 * rows * ldc];
            }
            java.util.Arrays.fill(s.m, 0, 36 * rows * ldc, 0f);
            for (int e = 0; e < 36; e++) {
              // The part's columns, a panel (or the part of one) at a time.
              for (int o = o0; o < o1; ) {
                int within = o % NR;
                int cols = Math.min(NR - within, o1 - o);
                CpuGemm.panelColumns(
                    tiles,
                    ldc,
                    cols,
                    ic,
                    1f,
                    v,
                    e * pointSize,
                    u[e],
                    (o - within) * ic + within,
                    s.m,
                    e * rows * ldc + o - o0,
                    0,
                    rows / MR);
                o += cols;
              }
            }
            outputTransformTileMajor(g, tiles, ep, y, yOff, s, o0, o1, rows, ldc);
          }
        });
  }

  /**
   * Output channels {@code [o0, o1)} of every tile from Mᵀ (36 matrices [rows, ldc] in {@code s.m},
   * column 0 being channel o0): y = Aᵀ M A and the epilogue, a vector of channels at a time, each
   * output pixel written to its channels' planes by a scatter.
   */
  private static void outputTransformTileMajor(
      ConvGeometry g,
      int tiles,
      CpuConv.Epilogue ep,
      float[] y,
      int yOff,
      Scratch s,
      int o0,
      int o1,
      int rows,
      int ldc) {
    int oh = g.outHeight();
    int ow = g.outWidth();
    int tx = (ow + 3) / 4;
    int perImage = (oh + 3) / 4 * tx;
    int ohw = oh * ow;
    int outImage = g.outChannels() * ohw;
    // Lane l is channel o + l, one plane further on; in the last, partial vector the lanes past
    // o1 point at the first (a gather checks every lane's index, masked or not).
    for (int lane = 0; lane < L; lane++) {
      s.planes[lane] = lane * ohw;
      s.lastPlanes[lane] = (o1 - o0) % L == 0 || lane < (o1 - o0) % L ? lane * ohw : 0;
    }
    float[] r = s.rows;
    float[] res = ep.residual();
    FloatVector floor = FloatVector.broadcast(S, ep.relu() ? 0f : Float.NEGATIVE_INFINITY);
    for (int o = o0; o < o1; o += L) {
      VectorMask<Float> lanes = S.indexInRange(o, o1);
      int[] planes = o + L <= o1 ? s.planes : s.lastPlanes;
      FloatVector bias =
          ep.bias() == null
              ? FloatVector.zero(S)
              : FloatVector.fromArray(S, ep.bias(), ep.biasOff() + o, lanes);
      for (int t = 0; t < tiles; t++) {
        for (int k = 0; k < 36; k++) {
          FloatVector.fromArray(S, s.m, (k * rows + t) * ldc + o - o0).intoArray(r, k * L);
        }
        for (int i = 0; i < 6; i++) {
          outputRow(r, i * 6 * L, L); // M A: row i keeps its first four
        }
        for (int j = 0; j < 4; j++) {
          outputRow(r, j * L, 6 * L); // Aᵀ (M A): column j, first four rows
        }
        int y0 = t % perImage / tx * 4;
        int x0 = t % tx * 4;
        int base = t / perImage * outImage + o * ohw;
        for (int i = 0; i < Math.min(4, oh - y0); i++) {
          for (int j = 0; j < Math.min(4, ow - x0); j++) {
            int at = base + (y0 + i) * ow + x0 + j;
            FloatVector z = FloatVector.fromArray(S, r, (i * 6 + j) * L).add(bias);
            if (res != null) {
              z = z.add(FloatVector.fromArray(S, res, ep.residualOff() + at, planes, 0, lanes));
            }
            z.max(floor).intoArray(y, yOff + at, planes, 0, lanes);
          }
        }
      }
    }
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
   * rows of V, 36 packed panels of [IC, NR], at {@code v[vOff ..]}. With {@code pointSize} above 0
   * (tile-major, {@code first} 0) it writes Vᵀ instead, 36 matrices [tiles, IC] packed as GEMM A
   * slivers, {@code pointSize} apart.
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
      int vOff,
      int pointSize) {
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
    int slivers = (tiles + MR - 1) / MR;
    VectorMask<Float> firstHalf = S.indexInRange(0, MR);
    VectorMask<Float> secondHalf = S.indexInRange(-MR, MR);
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
        if (pointSize == 0) {
          for (int k = 0; k < 36; k++) {
            FloatVector.fromArray(S, rows, k * L).intoArray(v, vOff + (k * ic + c) * NR + q * L);
          }
          continue;
        }
        // A vector of tiles is L / MR slivers' rows: each half goes to its sliver.
        for (int half = 0; half < L / MR && q * (L / MR) + half < slivers; half++) {
          int to = vOff + ((q * (L / MR) + half) * ic + c) * MR - half * MR;
          VectorMask<Float> lanes = half == 0 ? firstHalf : secondHalf;
          for (int k = 0; k < 36; k++) {
            FloatVector.fromArray(S, rows, k * L).intoArray(v, to + k * pointSize, lanes);
          }
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

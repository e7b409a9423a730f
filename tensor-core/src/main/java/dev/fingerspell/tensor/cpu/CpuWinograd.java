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
 * Work goes one GEMM panel of 48 tiles at a time (tiles numbered across the whole batch, or a row
 * of them to a vector where rows fill their vectors: {@link #byRows}), each panel's transforms and
 * products on one worker, so the intermediates stay in its cache. With few panels each worker takes
 * an equal run of vectors instead; with fewer vectors than workers, panels are split by output
 * channels too. A batch of one to three slivers of tiles is the product's rows instead ({@link
 * #forwardTileMajor}). Interpolation points 0, ±1, ±2: in float32 the logits of ResNet18 stay
 * within about 1e-6 of the direct convolution, well inside the 1e-4 contract (see the ResNet parity
 * test).
 */
final class CpuWinograd {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int L = S.length();
  private static final int NR = CpuGemm.NR;
  private static final int VECTORS = NR / L;
  private static final int MR = CpuGemm.MR;

  /** G, 6 × 3. */
  static final double[][] G = {
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

  /**
   * Whether {@link #forward} computes this layer: 3×3, stride 1, pad 1 over more than one GEMM
   * panel of tiles, for inference (weights transformed once) and training (transformed at every
   * call, a few milliseconds for layer4's, which more tiles than that repay) alike.
   */
  static boolean pays(ConvGeometry g) {
    return applies(g) && tiles(g) > NR;
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
    // Where each filter lands in a packed matrix: the packing applied to the filters' numbers
    // (from 1, exact in float; 0 is padding).
    float[] numbers = new float[oc * ic];
    for (int f = 0; f < numbers.length; f++) {
      numbers[f] = f + 1;
    }
    float[] order =
        tileMajor
            ? CpuGemm.packB(
                new CpuGemm.Operand(true, numbers, 0),
                oc,
                ic,
                new float[CpuGemm.packedBSize(oc, ic)])
            : CpuGemm.packA(false, oc, ic, numbers, 0, new float[CpuGemm.packedASize(oc, ic)]);
    int size = order.length;
    float[][] packed = new float[36][size];
    // A block of the packed positions at a time, all 36 matrices of it while its taps are in
    // cache: the nine taps as planes in packed order, so each matrix is a sweep of arithmetic over
    // whole planes, written where the GEMM reads it. Training transforms its weights at every step,
    // so this is on its path.
    int block = 2048;
    Parallel.forRange(
        (size + block - 1) / block,
        1,
        (lo, hi) -> {
          float[] taps = new float[9 * block];
          double[] rows = new double[3 * block];
          for (int b = lo; b < hi; b++) {
            int from = b * block;
            int n = Math.min(block, size - from);
            for (int q = 0; q < n; q++) {
              int f = (int) order[from + q] - 1;
              for (int t = 0; t < 9; t++) {
                taps[t * block + q] = f < 0 ? 0f : w[wOff + f * 9 + t];
              }
            }
            for (int j = 0; j < 6; j++) {
              // (G g Gᵀ)[i][j] = Σ_k G[i][k] (g[k] · G[j]), in double: the row products once
              // per j, then each i from them.
              double g0 = G[j][0];
              double g1 = G[j][1];
              double g2 = G[j][2];
              for (int k = 0; k < 3; k++) {
                int t = 3 * k * block;
                for (int q = 0; q < n; q++) {
                  rows[k * block + q] =
                      taps[t + q] * g0 + taps[t + block + q] * g1 + taps[t + 2 * block + q] * g2;
                }
              }
              for (int i = 0; i < 6; i++) {
                double a0 = G[i][0];
                double a1 = G[i][1];
                double a2 = G[i][2];
                float[] u = packed[i * 6 + j];
                for (int q = 0; q < n; q++) {
                  double acc = 0;
                  acc += a0 * rows[q];
                  acc += a1 * rows[block + q];
                  acc += a2 * rows[2 * block + q];
                  u[from + q] = (float) acc;
                }
              }
            }
          }
        });
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
    final float[] line = new float[6 * (4 * L + 4 * MOST_RUNS)];
    final int[] at = new int[24];
    final long[] keep = new long[48];
    final int[] lineAt = new int[24];
  }

  private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

  /**
   * {@code y = act(conv(x, w) + bias + residual)} with {@code u} from {@link #transformWeights}.
   */
  static void forward(
      ConvGeometry g, float[] x, int xOff, float[][] u, CpuConv.Epilogue ep, float[] y, int yOff) {
    Pass pass = new Pass(g, x, xOff, u, ep, y, yOff);
    int columns = pass.columns;
    int panels = (columns + NR - 1) / NR;
    int vectors = (columns + L - 1) / L;
    int threads = Parallel.threads();
    // Split by tiles, a worker reads all of U once per run of up to a panel; split by output
    // channels, its share of U once per panel. The second reads less where the weights outweigh
    // the tiles' input and the tiles leave a worker more than one run: layer4 at batch 32, 3
    // panels, U 36 MB against V 9 MB: 15.5–16.8 → 13.7–14.2 ms (one JVM, 150 blocks each, three
    // runs); with 2 panels (layer4 at batch 24, layer3 at batch 4) the tile split stays ahead.
    int runs = ((vectors + threads - 1) / threads + VECTORS - 1) / VECTORS;
    boolean byChannels = g.outChannels() >= 2 * columns && panels < threads * runs;
    if (!byChannels && vectors >= threads && panels < 4 * threads) {
      // Few panels: each worker takes an equal run of vectors, in panels of up to three. Whole
      // panels went 3:2 on 2 workers at layer1 (5 panels at batch 1), 48:1 tiles at layer2.
      Parallel.forRange(
          threads,
          1,
          (lo, hi) -> {
            Scratch s = pass.scratch(false);
            for (int worker = lo; worker < hi; worker++) {
              int v1 = Parallel.share(vectors, worker + 1, threads);
              for (int v0 = Parallel.share(vectors, worker, threads); v0 < v1; v0 += VECTORS) {
                int first = v0 * L;
                int end = Math.min(columns, Math.min(v1, v0 + VECTORS) * L);
                pass.transformInput(first, end, 0, g.inChannels(), s, s.v, 0);
                pass.multiplyAndFinish(first, end, s, s.v, 0, 0, pass.slivers);
              }
            }
          });
      return;
    }
    // With fewer vectors than workers each panel is also split by output channels, so that every
    // worker has a share (and by workers where U outweighs V, above). The parts of a panel share
    // its transformed input, built first, in parallel, split by input channels.
    int ic = g.inChannels();
    int parts = Math.min(pass.slivers, byChannels ? threads : (threads + panels - 1) / panels);
    int sliversPerPart = (pass.slivers + parts - 1) / parts;
    int panelSize = 36 * pass.vPoint;
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
              int c0 = Parallel.share(ic, item % channelParts, channelParts);
              int c1 = Parallel.share(ic, item % channelParts + 1, channelParts);
              pass.transformInput(p * NR, columns, c0, c1, s, shared, p * panelSize);
            }
          });
    }
    Parallel.forRange(
        panels * parts,
        1,
        (lo, hi) -> {
          Scratch s = pass.scratch(shared != null);
          float[] v = shared == null ? s.v : shared;
          for (int item = lo; item < hi; item++) {
            int p = item / parts;
            int s0 = item % parts * sliversPerPart;
            int s1 = Math.min(pass.slivers, s0 + sliversPerPart);
            if (s0 >= s1) {
              continue;
            }
            int vOff = shared == null ? 0 : p * panelSize;
            if (shared == null) {
              pass.transformInput(p * NR, columns, 0, ic, s, v, 0);
            }
            pass.multiplyAndFinish(p * NR, columns, s, v, vOff, s0, s1);
          }
        });
  }

  /**
   * One convolution's arguments and layout, and the steps of a panel: the product's columns are its
   * tiles, or with {@link #byRows} their row slots.
   */
  private static final class Pass {
    final ConvGeometry g;
    final float[] x;
    final int xOff;
    final float[][] u;
    final CpuConv.Epilogue ep;
    final float[] y;
    final int yOff;
    final boolean byRows;
    final int columns;
    final int slivers;
    final int vPoint;
    final int mPoint;

    Pass(
        ConvGeometry g,
        float[] x,
        int xOff,
        float[][] u,
        CpuConv.Epilogue ep,
        float[] y,
        int yOff) {
      this.g = g;
      this.x = x;
      this.xOff = xOff;
      this.u = u;
      this.ep = ep;
      this.y = y;
      this.yOff = yOff;
      byRows = byRows(g);
      columns = byRows ? rowSlots(g) : tiles(g);
      slivers = (g.outChannels() + MR - 1) / MR;
      vPoint = apart(g.inChannels() * NR);
      mPoint = apart(g.outChannels() * NR);
    }

    /** This worker's buffers, large enough for a panel (its own V unless the input is shared). */
    Scratch scratch(boolean sharedInput) {
      Scratch s = SCRATCH.get();
      if (!sharedInput && s.v.length < 36 * vPoint) {
        s.v = new float[36 * vPoint];
      }
      if (s.m.length < 36 * mPoint) {
        s.m = new float[36 * mPoint];
      }
      return s;
    }

    /** Columns {@code [first, min(first + NR, end))}, input channels {@code [c0, c1)}: V. */
    void transformInput(int first, int end, int c0, int c1, Scratch s, float[] v, int vOff) {
      if (byRows) {
        inputTransformByRows(g, x, xOff, first, end, c0, c1, s, v, vOff);
      } else {
        inputTransform(g, x, xOff, first, end, c0, c1, s, v, vOff, 0);
      }
    }

    /**
     * The same columns' products for output-channel slivers {@code [s0, s1)} and their output
     * transform: M = U V, then y.
     */
    void multiplyAndFinish(int first, int end, Scratch s, float[] v, int vOff, int s0, int s1) {
      int oc = g.outChannels();
      int o0 = s0 * MR;
      int o1 = Math.min(oc, s1 * MR);
      for (int e = 0; e < 36; e++) { // only these rows of M are added into
        java.util.Arrays.fill(s.m, e * mPoint + o0 * NR, e * mPoint + o1 * NR, 0f);
      }
      int cols = Math.min(NR, end - first);
      int ic = g.inChannels();
      for (int e = 0; e < 36; e++) {
        CpuGemm.panelColumns(
            oc, NR, cols, ic, 1f, u[e], 0, v, vOff + e * vPoint, s.m, e * mPoint, s0, s1);
      }
      if (byRows) {
        outputTransformByRows(g, first, end, ep, y, yOff, s, o0, o1);
      } else {
        outputTransform(g, first, end, ep, y, yOff, s, o0, o1);
      }
    }
  }

  /**
   * Whether {@link #forward} lays its tiles out by rows, in place of tile after tile: a row of
   * tiles to a vector (or to two, or more), or 2 or 4 rows to a vector where a row fits in a half
   * or a quarter of one; where the rows leave at most an eighth of the lanes empty (at 224×224,
   * layer1: 14 tiles in 16 lanes; layer2: 7 in 8; layer3: 4 in 4; not layer4: 2 in 4). A lane's 6×6
   * block then starts 4 values after its neighbour's, so the input transform reads rows with plain
   * loads and splits them by 4 with two-vector permutes, and the output transform interleaves its 4
   * columns back into rows, instead of 36 gathers and 16 scatters (and 16 residual gathers) a
   * vector of tiles, which cost most of layer1's time.
   */
  static boolean byRows(ConvGeometry g) {
    int tx = (g.outWidth() + 3) / 4;
    int runs = rowsPerVector(g);
    int lanes = runs == 1 ? (tx + L - 1) / L * L : L / runs; // a row's
    // The empty lanes are products too. They cost less than the gathers saved at 64 channels
    // (layer1 at batch 8: 3.8-4.5 ms against 4.5) and at 128 (layer2 at batch 32: 13.8-14.0 ms
    // against 19.2-19.5, one JVM, alternating; the batch-32 pass x1.019 over 30 alternations);
    // above that, rows are taken only where they add no vector.
    boolean noMoreVectors = rowSlots(g) <= (tiles(g) + L - 1) / L * L;
    return L >= 4 && (lanes - tx) * 8 <= lanes && (g.inChannels() <= 128 || noMoreVectors);
  }

  /** The most rows of tiles a vector holds by rows ({@link #rowsPerVector}). */
  private static final int MOST_RUNS = 4;

  /**
   * Rows of tiles a vector holds by rows: the most of 4 and 2 (at most L) whose share of the lanes
   * a row fits in, else one. Not 8: layer4's two-tile rows would then need two input rows in a
   * vector, a load each and a blend (or a store and a reload), which ran slower than the gathers.
   */
  private static int rowsPerVector(ConvGeometry g) {
    int tx = (g.outWidth() + 3) / 4;
    int runs = Math.min(MOST_RUNS, L);
    while (runs > 1 && tx > L / runs) {
      runs /= 2;
    }
    return runs;
  }

  /** The product's columns with tiles by rows: whole vectors. */
  static int rowSlots(ConvGeometry g) {
    int tx = (g.outWidth() + 3) / 4;
    int tileRows = g.batch() * ((g.outHeight() + 3) / 4);
    int runs = rowsPerVector(g);
    return runs == 1 ? tileRows * ((tx + L - 1) / L * L) : (tileRows + runs - 1) / runs * L;
  }

  /** Lane l takes value 4l + φ of four vectors: from the first two (l < L/2), or the last two. */
  private static final FloatVector[] QUARTER = new FloatVector[4];

  /** Lanes from two vectors by turns, a and b: the first halves, then the second halves. */
  private static final FloatVector ZIP_FIRST;

  private static final FloatVector ZIP_SECOND;

  /** Pairs from two vectors by turns: their first halves, then their second halves. */
  private static final FloatVector PAIRS_FIRST;

  private static final FloatVector PAIRS_SECOND;

  private static final VectorMask<Float> SECOND_HALF = S.indexInRange(-L / 2, L / 2);

  static {
    float[] index = new float[L];
    for (int phase = 0; phase < 4; phase++) {
      for (int l = 0; l < L; l++) {
        index[l] = (4 * l + phase) % (2 * L);
      }
      QUARTER[phase] = FloatVector.fromArray(S, index, 0);
    }
    for (int l = 0; l < L; l++) {
      index[l] = l % 2 * L + l / 2;
    }
    ZIP_FIRST = FloatVector.fromArray(S, index, 0);
    ZIP_SECOND = ZIP_FIRST.add(L / 2f);
    for (int l = 0; l < L; l++) {
      index[l] = l % 4 / 2 * L + l / 4 * 2 + l % 2;
    }
    PAIRS_FIRST = FloatVector.fromArray(S, index, 0);
    PAIRS_SECOND = PAIRS_FIRST.add(L / 2f);
  }

  /**
   * {@link #inputTransform} with tiles by rows: slot {@code first} on, a vector at a time, each a
   * run of L tiles of one row of tiles, or R rows' runs of L/R ({@link #rowsPerVector}), run k in
   * lanes {@code [k L/R, (k+1) L/R)}. A run's block row is its input row from 1 before its first
   * block: 4L/R values for columns 0 to 3, and 4 more for columns 4 and 5. Laid end to end, a block
   * row's runs are four vectors; lane l of column j < 4 is value {@code 4l + j} of them, of column
   * 4 or 5 value {@code 4l + j - 4} of the four vectors 4 on, taken apart by two-vector permutes.
   *
   * <p>The eight vectors are loaded straight from the input rows, and the lanes that fall in the
   * padding (or past a row's end, or in rows outside the image or past the batch) blended to 0 by
   * masks worked out once per vector of tiles. Only a channel whose loads would leave the array
   * (the first or last rows of an array the input fills) copies each run's block rows into the line
   * instead, end to end, {@code stride} apart, its padding's places 0.
   */
  private static void inputTransformByRows(
      ConvGeometry g,
      float[] x,
      int xOff,
      int first,
      int slots,
      int c0,
      int c1,
      Scratch s,
      float[] v,
      int vOff) {
    int h = g.inHeight();
    int w = g.inWidth();
    int hw = h * w;
    int tx = (g.outWidth() + 3) / 4;
    int ty = (g.outHeight() + 3) / 4;
    int tileRows = g.batch() * ty;
    int ic = g.inChannels();
    int inImage = ic * hw;
    int vPoint = apart(ic * NR);
    int runs = rowsPerVector(g);
    int runValues = 4 * L / runs; // a run's values for columns 0 to 3
    int stride = runValues + 4; // and for 4 and 5: a run's copy in the line
    int rowVectors = (tx + L - 1) / L;
    float[] rows = s.rows;
    int[] at = s.at; // block row i's vector m (columns 0 to 3) at at[4i + m] in channel 0
    long[] keep = s.keep; // its lanes inside the image: keep[8i + m]; 4 on: keep[8i + 4 + m]
    int[] lineAt = s.lineAt; // the same vectors in the line
    for (int i = 0; i < 6; i++) {
      for (int m = 0; m < 4; m++) {
        lineAt[i * 4 + m] = i * runs * stride + place(m, runValues, stride);
      }
    }
    int vectors = vectors(first, slots);
    FloatVector q0 = QUARTER[0];
    FloatVector q1 = QUARTER[1];
    FloatVector q2 = QUARTER[2];
    FloatVector q3 = QUARTER[3];
    FloatVector zero = FloatVector.zero(S);
    for (int q = 0; q < vectors; q++) {
      int slot = first / L + q;
      int x0 = runs == 1 ? slot % rowVectors * 4 * L : 0; // the runs' first tile's column
      int lo = Math.max(0, 1 - x0); // a run's values before column 0, in the line
      int count = Math.max(0, Math.min(stride, w + 1 - x0) - lo); // and inside the image row
      int lowest = Integer.MAX_VALUE;
      int highest = Integer.MIN_VALUE;
      for (int i = 0; i < 6; i++) {
        for (int m = 0; m < 4; m++) {
          int tileRow = runs == 1 ? slot / rowVectors : slot * runs + m * L / runValues;
          int iy = tileRow % ty * 4 - 1 + i;
          boolean in = tileRow < tileRows && iy >= 0 && iy < h;
          int column = x0 - 1 + m * L % runValues; // lane 0's
          // Rows outside the image read the input's first values, all lanes masked off.
          at[i * 4 + m] = xOff + (in ? tileRow / ty * inImage + iy * w + column : 0);
          lowest = Math.min(lowest, at[i * 4 + m]);
          highest = Math.max(highest, at[i * 4 + m] + 4 + L);
          keep[i * 8 + m] = in ? inside(column, w) : 0;
          keep[i * 8 + 4 + m] = in ? inside(column + 4, w) : 0;
        }
      }
      boolean lineReady = false;
      for (int c = c0; c < c1; c++) {
        int plane = c * hw;
        float[] src = x;
        int[] srcAt = at;
        long[] srcKeep = keep;
        int base = plane;
        if (plane + lowest < 0 || plane + highest > x.length) {
          if (!lineReady) {
            java.util.Arrays.fill(s.line, 0, 6 * runs * stride, 0f);
            lineReady = true;
          }
          for (int i = 0; i < 6; i++) {
            for (int k = 0; k < runs; k++) {
              int m = k * 4 / runs; // the run's first vector: at[] is its copy's first value
              if (keep[i * 8 + m] != 0) {
                System.arraycopy(
                    x, plane + at[i * 4 + m] + lo, s.line, (i * runs + k) * stride + lo, count);
              }
            }
          }
          src = s.line;
          srcAt = lineAt;
          srcKeep = ALL_LANES;
          base = 0;
        }
        // Each block row's six columns are taken apart and transformed (d B) in registers; only
        // the result goes through rows, to the columns' transform. The loads are written out: a
        // vector returned by a method C2 does not inline is boxed.
        for (int i = 0; i < 6; i++) {
          int r = i * 4;
          int k = i * 8;
          FloatVector a0 =
              zero.blend(
                  FloatVector.fromArray(S, src, base + srcAt[r]),
                  VectorMask.fromLong(S, srcKeep[k]));
          FloatVector a1 =
              zero.blend(
                  FloatVector.fromArray(S, src, base + srcAt[r + 1]),
                  VectorMask.fromLong(S, srcKeep[k + 1]));
          FloatVector a2 =
              zero.blend(
                  FloatVector.fromArray(S, src, base + srcAt[r + 2]),
                  VectorMask.fromLong(S, srcKeep[k + 2]));
          FloatVector a3 =
              zero.blend(
                  FloatVector.fromArray(S, src, base + srcAt[r + 3]),
                  VectorMask.fromLong(S, srcKeep[k + 3]));
          FloatVector d0 = q0.selectFrom(a0, a1).blend(q0.selectFrom(a2, a3), SECOND_HALF);
          FloatVector d1 = q1.selectFrom(a0, a1).blend(q1.selectFrom(a2, a3), SECOND_HALF);
          FloatVector d2 = q2.selectFrom(a0, a1).blend(q2.selectFrom(a2, a3), SECOND_HALF);
          FloatVector d3 = q3.selectFrom(a0, a1).blend(q3.selectFrom(a2, a3), SECOND_HALF);
          a0 =
              zero.blend(
                  FloatVector.fromArray(S, src, base + srcAt[r] + 4),
                  VectorMask.fromLong(S, srcKeep[k + 4]));
          a1 =
              zero.blend(
                  FloatVector.fromArray(S, src, base + srcAt[r + 1] + 4),
                  VectorMask.fromLong(S, srcKeep[k + 5]));
          a2 =
              zero.blend(
                  FloatVector.fromArray(S, src, base + srcAt[r + 2] + 4),
                  VectorMask.fromLong(S, srcKeep[k + 6]));
          a3 =
              zero.blend(
                  FloatVector.fromArray(S, src, base + srcAt[r + 3] + 4),
                  VectorMask.fromLong(S, srcKeep[k + 7]));
          FloatVector d4 = q0.selectFrom(a0, a1).blend(q0.selectFrom(a2, a3), SECOND_HALF);
          FloatVector d5 = q1.selectFrom(a0, a1).blend(q1.selectFrom(a2, a3), SECOND_HALF);
          transformRow(d0, d1, d2, d3, d4, d5, rows, i * 6 * L, L);
        }
        inputColumns(rows, v, vOff + c * NR + q * L, vPoint);
      }
    }
  }

  /** The lanes of a vector from {@code column} on that fall inside a row of {@code w} values. */
  private static long inside(int column, int w) {
    long bits = 0;
    for (int l = 0; l < L; l++) {
      if (column + l >= 0 && column + l < w) {
        bits |= 1L << l;
      }
    }
    return bits;
  }

  /** Every lane: the line's padding is already 0. */
  private static final long[] ALL_LANES = new long[48];

  static {
    java.util.Arrays.fill(ALL_LANES, (1L << L) - 1);
  }

  /** Where vector m of a block row's runs' values starts in its part of the line. */
  private static int place(int m, int runValues, int stride) {
    return m * L / runValues * stride + m * L % runValues;
  }

  /**
   * {@link #outputTransform} with tiles by rows: each of a block's 4 output rows is its 4 columns
   * interleaved (lane l of column j is value {@code 4l + j} of the runs' output rows laid end to
   * end, 4L/R values a run), then bias, residual and ReLU a vector at a time, each row's end
   * masked.
   */
  private static void outputTransformByRows(
      ConvGeometry g,
      int first,
      int slots,
      CpuConv.Epilogue ep,
      float[] y,
      int yOff,
      Scratch s,
      int o0,
      int o1) {
    int oh = g.outHeight();
    int ow = g.outWidth();
    int tx = (ow + 3) / 4;
    int ty = (oh + 3) / 4;
    int tileRows = g.batch() * ty;
    int runs = rowsPerVector(g);
    int runValues = 4 * L / runs;
    int rowVectors = (tx + L - 1) / L;
    int oc = g.outChannels();
    int outImage = oc * oh * ow;
    int mPoint = apart(oc * NR);
    float[] rows = s.rows;
    float[] line = s.line;
    float[] res = ep.residual();
    FloatVector floor = FloatVector.broadcast(S, ep.relu() ? 0f : Float.NEGATIVE_INFINITY);
    int vectors = vectors(first, slots);
    for (int o = o0; o < o1; o++) {
      FloatVector bias =
          FloatVector.broadcast(S, ep.bias() == null ? 0f : ep.bias()[ep.biasOff() + o]);
      for (int q = 0; q < vectors; q++) {
        int run = first / L + q;
        outputBlock(s.m, o * NR + q * L, mPoint, rows);
        for (int i = 0; i < 4; i++) {
          FloatVector m0 = FloatVector.fromArray(S, rows, i * 6 * L);
          FloatVector m1 = FloatVector.fromArray(S, rows, (i * 6 + 1) * L);
          FloatVector m2 = FloatVector.fromArray(S, rows, (i * 6 + 2) * L);
          FloatVector m3 = FloatVector.fromArray(S, rows, (i * 6 + 3) * L);
          FloatVector z01 = ZIP_FIRST.selectFrom(m0, m1); // tiles [0, L/2): columns 0 and 1
          FloatVector z23 = ZIP_FIRST.selectFrom(m2, m3);
          PAIRS_FIRST.selectFrom(z01, z23).intoArray(line, 0);
          PAIRS_SECOND.selectFrom(z01, z23).intoArray(line, L);
          z01 = ZIP_SECOND.selectFrom(m0, m1); // tiles [L/2, L)
          z23 = ZIP_SECOND.selectFrom(m2, m3);
          PAIRS_FIRST.selectFrom(z01, z23).intoArray(line, 2 * L);
          PAIRS_SECOND.selectFrom(z01, z23).intoArray(line, 3 * L);
          for (int k = 0; k < runs; k++) {
            int tileRow = runs == 1 ? run / rowVectors : runs * run + k;
            int oy = tileRow % ty * 4 + i;
            if (tileRow >= tileRows || oy >= oh) {
              continue;
            }
            int x0 = runs == 1 ? run % rowVectors * 4 * L : 0;
            int width = Math.min(runValues, ow - x0); // the run's values in its row
            int from = k * runValues;
            int at = tileRow / ty * outImage + o * oh * ow + oy * ow + x0;
            // Whole vectors unmasked: a masked load that misses the cache cost ~4x a plain one.
            int b = 0;
            for (; b + L <= width; b += L) {
              FloatVector r = FloatVector.fromArray(S, line, from + b).add(bias);
              if (res != null) {
                r = r.add(FloatVector.fromArray(S, res, ep.residualOff() + at + b));
              }
              r.max(floor).intoArray(y, yOff + at + b);
            }
            if (b < width) {
              VectorMask<Float> in = S.indexInRange(b, width);
              FloatVector r = FloatVector.fromArray(S, line, from + b).add(bias);
              if (res != null) {
                r = r.add(FloatVector.fromArray(S, res, ep.residualOff() + at + b, in));
              }
              r.max(floor).intoArray(y, yOff + at + b, in);
            }
          }
        }
      }
    }
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
   * that 8 tiles use. The input transform is split by input channels, then each worker takes a run
   * of output channels (whole vectors, {@link CpuGemm#columnRuns}) through all 36 products and the
   * output transform.
   */
  static void forwardTileMajor(
      ConvGeometry g, float[] x, int xOff, float[][] u, CpuConv.Epilogue ep, float[] y, int yOff) {
    int tiles = tiles(g);
    int ic = g.inChannels();
    int oc = g.outChannels();
    int rows = (tiles + MR - 1) / MR * MR;
    int pointSize = apart(CpuGemm.packedASize(tiles, ic));
    float[] v = SHARED.get(0, 36 * pointSize);
    int channelParts = Math.min(ic, Parallel.threads());
    Parallel.forRange(
        channelParts,
        1,
        (lo, hi) -> {
          Scratch s = SCRATCH.get();
          for (int part = lo; part < hi; part++) {
            int c0 = Parallel.share(ic, part, channelParts);
            int c1 = Parallel.share(ic, part + 1, channelParts);
            inputTransform(g, x, xOff, 0, tiles, c0, c1, s, v, 0, pointSize);
          }
        });
    int ocVectors = (oc + L - 1) / L;
    CpuGemm.forColumnRuns(
        ocVectors,
        (v0, v1) -> {
          Scratch s = SCRATCH.get();
          int o0 = v0 * L;
          int o1 = Math.min(oc, v1 * L);
          int ldc = (o1 - o0 + L - 1) / L * L;
          int mPoint = apart(rows * ldc);
          if (s.m.length < 36 * mPoint) {
            s.m = new float[36 * mPoint];
          }
          java.util.Arrays.fill(s.m, 0, 36 * mPoint, 0f);
          for (int e = 0; e < 36; e++) {
            CpuGemm.columns(
                tiles, ldc, ic, v, e * pointSize, u[e], s.m, e * mPoint, o0, o1, 0, rows / MR);
          }
          outputTransformTileMajor(g, tiles, ep, y, yOff, s, o0, o1, rows, ldc);
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
    int mPoint = apart(rows * ldc);
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
        outputBlock(s.m, t * ldc + o - o0, mPoint, r);
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

  /**
   * The distance between two of the 36 transform-domain matrices of size {@code size}, one cache
   * line more: at ResNet18's sizes they are whole multiples of 4 KB, so a transform's 36 loads or
   * stores, a matrix apart, all fell into one set of the L1 cache, which holds 12.
   */
  private static int apart(int size) {
    return size + 16;
  }

  /** The caller's buffer for every panel's transformed input, when parts of a panel share it. */
  private static final ThreadScratch SHARED = new ThreadScratch(1);

  /** Bᵀ d B in place on the 6×6 vectors of {@code t} (row-major, a vector each). */
  private static void inputBlock(float[] t) {
    inputRows(t);
    inputColumns(t, t, 0, L);
  }

  /** d B in place, row by row: the first half of {@link #inputBlock}. */
  private static void inputRows(float[] t) {
    for (int i = 0; i < 6; i++) {
      inputRow(t, i * 6 * L, L, t, i * 6 * L, L);
    }
  }

  /**
   * Bᵀ (d B), column by column, from the rows' transform in {@code t} (as {@link #inputBlock}
   * leaves it) to {@code dst}: value k of the block at {@code dst[to + k·apart]}. Written straight
   * to V, it saves a copy of the block.
   */
  private static void inputColumns(float[] t, float[] dst, int to, int apart) {
    for (int j = 0; j < 6; j++) {
      inputRow(t, j * L, 6 * L, dst, to + j * apart, 6 * apart);
    }
  }

  /**
   * Aᵀ M A of the block whose value k is {@code m[at + k·apart]} (the products, read where the GEMM
   * left them) into the 6×6 vectors of {@code t}: the 4×4 result in its top-left corner.
   */
  private static void outputBlock(float[] m, int at, int apart, float[] t) {
    for (int i = 0; i < 6; i++) {
      outputRow(m, at + i * 6 * apart, apart, t, i * 6 * L, L); // M A: row i keeps its first four
    }
    for (int j = 0; j < 4; j++) {
      outputRow(t, j * L, 6 * L, t, j * L, 6 * L); // Aᵀ (M A): column j, first four rows
    }
  }

  /**
   * The row (or column) transform by Bᵀ: six values at {@code t[at + k·stride]} to six at {@code
   * dst[to + k·toStride]} (the same places, in place).
   */
  private static void inputRow(float[] t, int at, int stride, float[] dst, int to, int toStride) {
    FloatVector x0 = FloatVector.fromArray(S, t, at);
    FloatVector x1 = FloatVector.fromArray(S, t, at + stride);
    FloatVector x2 = FloatVector.fromArray(S, t, at + 2 * stride);
    FloatVector x3 = FloatVector.fromArray(S, t, at + 3 * stride);
    FloatVector x4 = FloatVector.fromArray(S, t, at + 4 * stride);
    FloatVector x5 = FloatVector.fromArray(S, t, at + 5 * stride);
    transformRow(x0, x1, x2, x3, x4, x5, dst, to, toStride);
  }

  /**
   * Bᵀ on six values of a row or column, already in registers, to {@code dst[to + k·stride]}. It
   * takes vectors and returns none: a vector returned by a method C2 does not inline is boxed, one
   * passed in is not (and this small method is inlined, checked with {@code -XX:+PrintInlining}).
   */
  private static void transformRow(
      FloatVector x0,
      FloatVector x1,
      FloatVector x2,
      FloatVector x3,
      FloatVector x4,
      FloatVector x5,
      float[] dst,
      int to,
      int stride) {
    FloatVector a = x4.sub(x2.mul(4f)); // x4 − 4x2
    FloatVector b = x3.sub(x1.mul(4f)); // x3 − 4x1
    FloatVector c = x4.sub(x2); // x4 − x2
    FloatVector d = x3.sub(x1).mul(2f); // 2(x3 − x1)
    x0.mul(4f).sub(x2.mul(5f)).add(x4).intoArray(dst, to);
    a.add(b).intoArray(dst, to + stride);
    a.sub(b).intoArray(dst, to + 2 * stride);
    c.add(d).intoArray(dst, to + 3 * stride);
    c.sub(d).intoArray(dst, to + 4 * stride);
    x1.mul(4f).sub(x3.mul(5f)).add(x5).intoArray(dst, to + 5 * stride);
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
    int vPoint = apart(ic * NR);
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
        if (pointSize == 0) {
          inputRows(rows);
          inputColumns(rows, v, vOff + c * NR + q * L, vPoint);
          continue;
        }
        inputBlock(rows);
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

  /**
   * The transform by Aᵀ: six values at {@code t[at + k·stride]} to four at {@code dst[to +
   * k·toStride]} (the first four places, in place).
   */
  private static void outputRow(float[] t, int at, int stride, float[] dst, int to, int toStride) {
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
    m0.add(a).add(c).intoArray(dst, to);
    b.add(d.mul(2f)).intoArray(dst, to + toStride);
    a.add(c.mul(4f)).intoArray(dst, to + 2 * toStride);
    b.add(d.mul(8f)).add(m5).intoArray(dst, to + 3 * toStride);
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
    int mPoint = apart(oc * NR);
    float[] rows = s.rows;
    float[] res = ep.residual();
    FloatVector floor = FloatVector.broadcast(S, ep.relu() ? 0f : Float.NEGATIVE_INFINITY);
    int vectors = vectors(first, tiles);
    for (int o = o0; o < o1; o++) {
      FloatVector bias =
          FloatVector.broadcast(S, ep.bias() == null ? 0f : ep.bias()[ep.biasOff() + o]);
      int plane = o * oh * ow;
      for (int v = 0; v < vectors; v++) {
        outputBlock(s.m, o * NR + v * L, mPoint, rows);
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

  /**
   * The input gradient of a 3×3, stride-1, pad-1 convolution, which is one too: of dy, with each
   * filter turned half a turn and in and out channels swapped, its weights transformed for this
   * call (a training step's weights change).
   */
  static void backwardData(
      ConvGeometry g, float[] dy, int dyOff, float[] w, int wOff, float[] dx, int dxOff) {
    ConvGeometry back =
        new ConvGeometry(
            g.batch(),
            g.outChannels(),
            g.outHeight(),
            g.outWidth(),
            g.inChannels(),
            3,
            3,
            1,
            1,
            1,
            1);
    float[][] u = transformWeights(back, turnedFilters(g, w, wOff), 0);
    forward(back, dy, dyOff, u, new CpuConv.Epilogue(null, 0, null, 0, false), dx, dxOff);
  }

  /**
   * The filters of the input gradient, {@code [IC, OC, 3, 3]}: filter (o, c) turned half a turn, at
   * (c, o).
   */
  private static float[] turnedFilters(ConvGeometry g, float[] w, int wOff) {
    int oc = g.outChannels();
    int ic = g.inChannels();
    float[] turned = new float[ic * oc * 9];
    for (int o = 0; o < oc; o++) {
      for (int c = 0; c < ic; c++) {
        int from = wOff + (o * ic + c) * 9;
        int to = (c * oc + o) * 9;
        for (int t = 0; t < 9; t++) {
          turned[to + t] = w[from + 8 - t];
        }
      }
    }
    return turned;
  }

  /**
   * The weight gradient of a 3×3, stride-1, pad-1 convolution as Winograd: {@code dU[ξν] = Σ_tiles
   * dM[ξν] V[ξν]ᵀ}, with V = Bᵀ d B the forward's input transform and dM = A dY Aᵀ the adjoint of
   * its output transform, then {@code dw = Gᵀ dU G}: 36 products with the tiles as their long
   * dimension instead of one with 16 pixels a tile. A chunk of tiles at a time, the transforms
   * (channels in the lanes: a 6×6 block of 16 channels is 36 gathers; a block position in the
   * padding is a vector of zeros, no mask) write straight into packed GEMM operands, then the 36
   * products add into dU.
   *
   * <p>Where dU is small (layer1's 64×64 channels: 0.6 MB) each worker takes its own run of chunks
   * and sums its own dU, added at the end in worker order: its products read what it packed. Where
   * it is large (layer4's: 38 MB) the workers share each chunk, first its tiles, then the 36
   * products, so dU is held and written once (with a copy a worker, layer4's Winograd took 40–45 ms
   * at batch 32, no faster than the direct product; shared, 17–18 ms).
   */
  static void backwardFilter(
      ConvGeometry g, float[] x, int xOff, float[] dy, int dyOff, float[] dw, int dwOff) {
    int oc = g.outChannels();
    int ic = g.inChannels();
    GradientTiles tiles = new GradientTiles(g, x, xOff, dy, dyOff);
    // chunks of equal length, at most about 8 MB of packed operands each, or 128 tiles: a product
    // reads and writes its part of dU once a chunk (1 MB of layer4's), so a chunk keeps it long
    int most = Math.max(128, (1 << 21) / (36 * (oc + ic)));
    int chunks = (tiles.count() + most - 1) / most;
    int chunk = (tiles.count() + chunks - 1) / chunks;
    int parts = oc * ic <= 64 * 64 ? Math.min(chunks, Parallel.threads()) : 1;
    float[][][] du = new float[parts][][];
    if (parts > 1) {
      Parallel.forRange(
          parts,
          1,
          (pLo, pHi) -> {
            float[][][] operands = operands(oc, ic, chunk);
            for (int p = pLo; p < pHi; p++) {
              du[p] = new float[36][oc * ic];
              for (int c = Parallel.share(chunks, p, parts);
                  c < Parallel.share(chunks, p + 1, parts);
                  c++) {
                int k = Math.min(chunk, tiles.count() - c * chunk);
                tiles.pack(c * chunk, 0, k, k, operands[0], operands[1]);
                multiply(oc, ic, k, operands, du[p], 0, 36);
              }
            }
          });
    } else {
      du[0] = new float[36][oc * ic];
      float[][][] operands = operands(oc, ic, chunk);
      for (int first = 0; first < tiles.count(); first += chunk) {
        int from = first;
        int k = Math.min(chunk, tiles.count() - first);
        Parallel.forRange(k, 1, (lo, hi) -> tiles.pack(from, lo, hi, k, operands[0], operands[1]));
        Parallel.forRange(36, 1, (lo, hi) -> multiply(oc, ic, k, operands, du[0], lo, hi));
      }
    }
    filterGradient(oc * ic, du, dw, dwOff);
  }

  /**
   * Packed operands for a chunk of tiles, 36 of dM, then 36 of V, fresh from the heap. Kept per
   * thread between calls instead, layer1's weight gradient ran about 10% slower (one JVM, 22.6
   * against 20.5 ms) and a training step held about 70 MB more.
   */
  private static float[][][] operands(int oc, int ic, int chunk) {
    return new float[][][] {
      new float[36][CpuGemm.packedASize(oc, chunk)], new float[36][CpuGemm.packedBSize(ic, chunk)]
    };
  }

  /** {@code dU[e] += dM[e] · V[e]ᵀ} for e in {@code [lo, hi)}, over a chunk of k tiles. */
  private static void multiply(
      int oc, int ic, int k, float[][][] operands, float[][] du, int lo, int hi) {
    for (int e = lo; e < hi; e++) {
      CpuGemm.multiplyPacked(oc, ic, k, 1f, operands[0][e], operands[1][e], du[e], 0, false);
    }
  }

  /**
   * What the weight gradient's transforms read: the layer's input and output gradient, and its
   * tiles' layout (4×4 output blocks, numbered across the batch).
   */
  private record GradientTiles(ConvGeometry g, float[] x, int xOff, float[] dy, int dyOff) {
    int tilesX() {
      return (g.outWidth() + 3) / 4;
    }

    int perImage() {
      return (g.outHeight() + 3) / 4 * tilesX();
    }

    int count() {
      return g.batch() * perImage();
    }

    /**
     * Tiles {@code first + q} for q in {@code [lo, hi)}: each one's V (input channels in the lanes,
     * a panel's row of NR) and dM (output channels in the lanes, MR of them a sliver's row) as
     * column q of the 36 packed operands of a chunk of {@code k} tiles. The loop over tiles is in
     * here, with the transforms, so that they compile as one (called a tile at a time, layer1's
     * packing ran a fifth slower).
     */
    void pack(int first, int lo, int hi, int k, float[][] ap, float[][] bp) {
      int oc = g.outChannels();
      int ic = g.inChannels();
      int h = g.inHeight();
      int w = g.inWidth();
      int oh = g.outHeight();
      int ow = g.outWidth();
      int icPadded = (ic + NR - 1) / NR * NR;
      int ocPadded = (oc + MR - 1) / MR * MR;
      int tilesX = tilesX();
      int perImage = perImage();
      // Gather offsets, channel planes apart (all lanes, then the last vector's): the last
      // vector's lanes past the channels (masked off) still point inside the array, which the
      // gather checks.
      int[][] xLanes = {channelLanes(h * w, L), channelLanes(h * w, ic % L)};
      int[][] dyLanes = {channelLanes(oh * ow, L), channelLanes(oh * ow, oc % L)};
      float[] t = new float[36 * L];
      FloatVector zero = FloatVector.zero(S);
      for (int q = lo; q < hi; q++) {
        int n = (first + q) / perImage;
        int y0 = (first + q) % perImage / tilesX * 4;
        int x0 = (first + q) % tilesX * 4;
        for (int c0 = 0; c0 < icPadded; c0 += L) {
          int at = c0 / NR * k * NR + q * NR + c0 % NR;
          // The last panel's padding (32 of layer1's 96): zeros, no transform.
          if (c0 >= ic) {
            for (int e = 0; e < 36; e++) {
              zero.intoArray(bp[e], at);
            }
            continue;
          }
          VectorMask<Float> m = S.indexInRange(c0, ic);
          int[] lanes = xLanes[c0 + L <= ic ? 0 : 1];
          int base = xOff + (n * ic + c0) * h * w;
          for (int i = 0; i < 6; i++) {
            int iy = y0 - 1 + i;
            for (int j = 0; j < 6; j++) {
              int ix = x0 - 1 + j;
              (iy >= 0 && iy < h && ix >= 0 && ix < w
                      ? FloatVector.fromArray(S, x, base + iy * w + ix, lanes, 0, m)
                      : zero)
                  .intoArray(t, (i * 6 + j) * L);
            }
          }
          inputBlock(t);
          for (int e = 0; e < 36; e++) {
            FloatVector.fromArray(S, t, e * L).intoArray(bp[e], at);
          }
        }
        for (int o0 = 0; o0 < ocPadded; o0 += L) {
          VectorMask<Float> m = S.indexInRange(o0, oc);
          int[] lanes = dyLanes[o0 + L <= oc ? 0 : 1];
          int base = dyOff + (n * oc + o0) * oh * ow;
          for (int i = 0; i < 4; i++) {
            int yy = y0 + i;
            for (int j = 0; j < 4; j++) {
              int xx = x0 + j;
              (yy < oh && xx < ow && o0 < oc
                      ? FloatVector.fromArray(S, dy, base + yy * ow + xx, lanes, 0, m)
                      : zero)
                  .intoArray(t, (i * 6 + j) * L);
            }
          }
          gradientBlock(t);
          if (L <= MR) { // the vector is (part of) one sliver's row
            int at = (o0 / MR * k + q) * MR + o0 % MR;
            for (int e = 0; e < 36; e++) {
              FloatVector.fromArray(S, t, e * L).intoArray(ap[e], at);
            }
          } else { // the vector spans L / MR slivers' rows, each its lanes' part
            for (int half = 0; half < L / MR && o0 + half * MR < ocPadded; half++) {
              int at = ((o0 / MR + half) * k + q) * MR - half * MR; // lane l at + l
              for (int e = 0; e < 36; e++) {
                FloatVector.fromArray(S, t, e * L).intoArray(ap[e], at, SLIVER[half]);
              }
            }
          }
        }
      }
    }
  }

  /** Gather offsets {@code l · plane} for the first {@code valid} lanes (all when 0), 0 after. */
  private static int[] channelLanes(int plane, int valid) {
    int[] lanes = new int[L];
    for (int l = 0; l < L; l++) {
      lanes[l] = valid == 0 || l < valid ? l * plane : 0;
    }
    return lanes;
  }

  /** Lanes {@code [h·MR, (h + 1)·MR)}: the part of a vector of output channels in one sliver. */
  private static final VectorMask<Float>[] SLIVER = slivers();

  @SuppressWarnings("unchecked")
  private static VectorMask<Float>[] slivers() {
    VectorMask<Float>[] masks = (VectorMask<Float>[]) new VectorMask<?>[Math.max(1, L / MR)];
    for (int h = 0; h < masks.length; h++) {
      masks[h] = S.indexInRange(-h * MR, MR);
    }
    return masks;
  }

  /** G in float, for the weight gradient's float sweeps. */
  private static final float[][] G32 = new float[6][3];

  static {
    for (int i = 0; i < 6; i++) {
      for (int j = 0; j < 3; j++) {
        G32[i][j] = (float) G[i][j];
      }
    }
  }

  /**
   * {@code dw = Gᵀ dU G} per filter, dU the sum of the workers' parts (added into the first, in
   * part order), each 36 planes {@code [filters]}: a vector of filters at a time, each column of
   * {@code dU G} (six vectors) then its three entries of dw, which go out filter by filter (dw
   * holds a filter's nine taps together). No vector crosses a method boundary or sits in an array:
   * where C2 does not inline, it is boxed and every operation runs in Java (helpers returning a
   * column ran boxed in a training step, though not in a harness).
   */
  private static void filterGradient(int filters, float[][][] du, float[] dw, int dwOff) {
    Parallel.forRange(
        (filters + L - 1) / L,
        256,
        (lo, hi) -> {
          float[][] sum = du[0];
          for (int p = 1; p < du.length; p++) {
            for (int e = 0; e < 36; e++) {
              for (int v = lo; v < hi; v++) {
                VectorMask<Float> m = S.indexInRange(v * L, filters);
                FloatVector.fromArray(S, sum[e], v * L, m)
                    .add(FloatVector.fromArray(S, du[p][e], v * L, m))
                    .intoArray(sum[e], v * L, m);
              }
            }
          }
          float[] column = new float[6 * L];
          float[] taps = new float[9 * L];
          for (int v = lo; v < hi; v++) {
            int f0 = v * L;
            VectorMask<Float> m = S.indexInRange(f0, filters);
            for (int l = 0; l < 3; l++) {
              for (int i = 0; i < 6; i++) { // (dU G)[i][l]
                FloatVector acc = FloatVector.fromArray(S, sum[i * 6], f0, m).mul(G32[0][l]);
                for (int j = 1; j < 6; j++) {
                  acc = acc.add(FloatVector.fromArray(S, sum[i * 6 + j], f0, m).mul(G32[j][l]));
                }
                acc.intoArray(column, i * L);
              }
              for (int kk = 0; kk < 3; kk++) { // (Gᵀ (dU G))[kk][l]
                FloatVector acc = FloatVector.fromArray(S, column, 0).mul(G32[0][kk]);
                for (int i = 1; i < 6; i++) {
                  acc = acc.add(FloatVector.fromArray(S, column, i * L).mul(G32[i][kk]));
                }
                acc.intoArray(taps, (kk * 3 + l) * L);
              }
            }
            for (int f = 0; f < Math.min(L, filters - f0); f++) {
              for (int tap = 0; tap < 9; tap++) {
                dw[dwOff + (f0 + f) * 9 + tap] = taps[tap * L + f];
              }
            }
          }
        });
  }

  /**
   * A dY Aᵀ in place: the 4×4 output gradient in the top-left corner of the 6×6 vectors of {@code
   * t} becomes the gradient of the transform-domain product, the adjoint of {@link #outputBlock}.
   */
  private static void gradientBlock(float[] t) {
    for (int i = 0; i < 4; i++) {
      gradientRow(t, i * 6 * L, L); // dY Aᵀ: row i, four values to six
    }
    for (int j = 0; j < 6; j++) {
      gradientRow(t, j * L, 6 * L); // A (dY Aᵀ): column j
    }
  }

  /** The adjoint of {@link #outputRow}: four values at {@code t[at + i·stride]} to six. */
  private static void gradientRow(float[] t, int at, int stride) {
    FloatVector d0 = FloatVector.fromArray(S, t, at);
    FloatVector d1 = FloatVector.fromArray(S, t, at + stride);
    FloatVector d2 = FloatVector.fromArray(S, t, at + 2 * stride);
    FloatVector d3 = FloatVector.fromArray(S, t, at + 3 * stride);
    FloatVector even = d0.add(d2); // d0 + d2
    FloatVector odd = d1.add(d3); // d1 + d3
    FloatVector even4 = d0.add(d2.mul(4f)); // d0 + 4d2
    FloatVector odd2 = d1.mul(2f).add(d3.mul(8f)); // 2d1 + 8d3
    d0.intoArray(t, at);
    even.add(odd).intoArray(t, at + stride);
    even.sub(odd).intoArray(t, at + 2 * stride);
    even4.add(odd2).intoArray(t, at + 3 * stride);
    even4.sub(odd2).intoArray(t, at + 4 * stride);
    d3.intoArray(t, at + 5 * stride);
  }
}

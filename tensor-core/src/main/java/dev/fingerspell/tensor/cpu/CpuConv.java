package dev.fingerspell.tensor.cpu;

import dev.fingerspell.tensor.ConvGeometry;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * Convolution on the CPU as im2col + GEMM over groups of images (one image when its output is
 * large, several side by side in one column matrix when it is small). With at least as many groups
 * as workers, each worker takes whole groups and runs its products serially; with fewer (batch 1
 * latency), groups run in turn and each product is split over the workers instead.
 *
 * <p>Layouts, per image: {@code x [C, H, W]}, {@code w [OC, C*KH*KW]}, the column matrix {@code col
 * [C*KH*KW, OH*OW]} (one row per kernel tap), {@code y [OC, OH*OW]}; so {@code y = w × col}.
 */
final class CpuConv {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int L = S.length();

  private CpuConv() {}

  /**
   * Column panels (slot 0), a group's output or gradient (slot 1), and its input's phase planes
   * (slot 2): 7 MB of panels for one 56×56 image of a 3×3 64-channel layer.
   */
  private static final ThreadScratch SCRATCH = new ThreadScratch(3);

  /** Lane indices 0, 2, 4, …: the even lanes of two vectors side by side (a stride-2 row). */
  static final FloatVector EVEN_LANES = FloatVector.zero(S).addIndex(2);

  /**
   * {@code count} images' {@code [OC, OHW]} planes, stored image after image, rewritten channel
   * after channel ({@code [OC, count·OHW]}): the layout a group's product reads. Returns {@code
   * dst}.
   */
  private static float[] groupMajor(
      float[] src, int srcOff, int count, int oc, int ohw, float[] dst) {
    for (int i = 0; i < count; i++) {
      for (int o = 0; o < oc; o++) {
        System.arraycopy(src, srcOff + (i * oc + o) * ohw, dst, (o * count + i) * ohw, ohw);
      }
    }
    return dst;
  }

  /**
   * How many images share one column matrix: enough that a product has at least 256 columns, so the
   * late, spatially small layers (7×7, 2×2) still feed the GEMM wide panels.
   */
  static int groupSize(ConvGeometry g) {
    int ohw = g.outHeight() * g.outWidth();
    return Math.max(1, Math.min(g.batch(), (256 + ohw - 1) / ohw));
  }

  /**
   * Runs {@code body} over groups of images: whole groups per worker when there are enough, else
   * one group at a time with the products split over the workers ({@code parallelInside}).
   */
  private interface GroupBody {
    void run(int first, int count, boolean parallelInside);
  }

  private static void forGroups(ConvGeometry g, GroupBody body) {
    int size = groupSize(g);
    int groups = (g.batch() + size - 1) / size;
    if (groups >= Parallel.threads()) {
      Parallel.forRange(
          groups,
          1,
          (lo, hi) -> {
            for (int k = lo; k < hi; k++) {
              body.run(k * size, Math.min(size, g.batch() - k * size), false);
            }
          });
    } else {
      for (int k = 0; k < groups; k++) {
        body.run(k * size, Math.min(size, g.batch() - k * size), true);
      }
    }
  }

  /**
   * What happens to a convolution's output on its way out: {@code y = act(conv + bias[o] +
   * residual)}, each part optional. Fusing these saves a pass over the activations per part.
   */
  record Epilogue(float[] bias, int biasOff, float[] residual, int residualOff, boolean relu) {
    static final Epilogue NONE = new Epilogue(null, 0, null, 0, false);

    boolean isNone() {
      return bias == null && residual == null && !relu;
    }
  }

  static void forward(
      ConvGeometry g,
      float[] x,
      int xOff,
      float[] w,
      int wOff,
      float[] bias,
      int biasOff,
      float[] y,
      int yOff) {
    int ckk = g.inChannels() * g.kernelH() * g.kernelW();
    float[] packedW = CpuGemm.packA(false, g.outChannels(), ckk, w, wOff, new float[packedSize(g)]);
    forward(g, x, xOff, packedW, new Epilogue(bias, biasOff, null, 0, false), y, yOff);
  }

  /**
   * The length of a weight tensor packed for {@link #forward(ConvGeometry, float[], int, float[],
   * Epilogue, float[], int)}.
   */
  static int packedSize(ConvGeometry g) {
    return CpuGemm.packedASize(g.outChannels(), g.inChannels() * g.kernelH() * g.kernelW());
  }

  /**
   * The forward pass with weights already packed by {@link CpuGemm#packA} (once per call, or once
   * for good when they are constants), the column matrix packed straight from the images into GEMM
   * panels, and the epilogue applied as the output is written.
   */
  static void forward(
      ConvGeometry g, float[] x, int xOff, float[] packedW, Epilogue ep, float[] y, int yOff) {
    int ckk = g.inChannels() * g.kernelH() * g.kernelW();
    int ohw = g.outHeight() * g.outWidth();
    int oc = g.outChannels();
    int inImage = g.inChannels() * g.inHeight() * g.inWidth();
    int outImage = oc * ohw;
    forGroups(
        g,
        (first, count, parallelInside) -> {
          int cols = count * ohw;
          int panels = (cols + CpuGemm.NR - 1) / CpuGemm.NR;
          int image = xOff + first * inImage;
          ColumnPacker packer = columnPacker(g, x, image, count, parallelInside);
          // One image writes straight into y and finishes each part where it was computed, on
          // the worker that computed it; a group goes through a scratch matrix, finished below.
          boolean inPlace = count == 1;
          float[] out = inPlace ? y : SCRATCH.get(1, oc * cols);
          int outOff = inPlace ? yOff + first * outImage : 0;
          if (parallelInside && panels < 4 * Parallel.threads()) {
            // Too few panels to share out evenly (one small image): build them all, split the
            // rows.
            float[] bp = SCRATCH.get(0, CpuGemm.packedBSize(cols, ckk));
            Parallel.forRange(ckk, 4, (lo, hi) -> packer.pack(0, cols, lo, hi, bp));
            int slivers = (oc + CpuGemm.MR - 1) / CpuGemm.MR;
            Parallel.forRange(
                slivers,
                1,
                (lo, hi) -> {
                  int r0 = lo * CpuGemm.MR;
                  int r1 = Math.min(oc, hi * CpuGemm.MR);
                  java.util.Arrays.fill(out, outOff + r0 * cols, outOff + r1 * cols, 0f);
                  for (int jp = 0; jp < panels; jp++) {
                    CpuGemm.panel(
                        oc,
                        cols,
                        ckk,
                        1f,
                        packedW,
                        bp,
                        jp * ckk * CpuGemm.NR,
                        jp * CpuGemm.NR,
                        out,
                        outOff,
                        lo,
                        hi);
                  }
                  if (inPlace) {
                    for (int o = r0; o < r1; o++) {
                      int at = outOff + o * cols;
                      finish(out, at, y, at, cols, ep, o, at - yOff);
                    }
                  }
                });
          } else {
            // A few panels at a time, built and multiplied while they are still in L2.
            int blockBytes = parallelInside ? SHARED_PANEL_BLOCK_BYTES : PANEL_BLOCK_BYTES;
            int block = Math.max(1, blockBytes / (ckk * CpuGemm.NR * Float.BYTES));
            int blocks = (panels + block - 1) / block;
            Parallel.forRange(
                blocks,
                1,
                (lo, hi) -> {
                  float[] bp = SCRATCH.get(0, block * ckk * CpuGemm.NR);
                  for (int b = lo; b < hi; b++) {
                    int p0 = b * block;
                    int p1 = Math.min(panels, p0 + block);
                    int colFrom = p0 * CpuGemm.NR;
                    int colTo = Math.min(cols, p1 * CpuGemm.NR);
                    for (int o = 0; o < oc; o++) {
                      int at = outOff + o * cols;
                      java.util.Arrays.fill(out, at + colFrom, at + colTo, 0f);
                    }
                    packer.pack(colFrom, colTo, 0, ckk, bp);
                    CpuGemm.multiplyPanels(oc, cols, ckk, packedW, bp, p0, p1, out, outOff);
                    if (inPlace) {
                      for (int o = 0; o < oc; o++) {
                        int at = outOff + o * cols + colFrom;
                        finish(out, at, y, at, colTo - colFrom, ep, o, at - yOff);
                      }
                    }
                  }
                });
          }
          if (!inPlace) {
            for (int i = 0; i < count; i++) {
              for (int o = 0; o < oc; o++) {
                int dst = yOff + (first + i) * outImage + o * ohw;
                finish(out, (o * count + i) * ohw, y, dst, ohw, ep, o, dst - yOff);
              }
            }
          }
        });
  }

  /**
   * Writes columns and rows of a group's column matrix into GEMM panels (see {@link
   * #im2colPanels}).
   */
  @FunctionalInterface
  private interface ColumnPacker {
    void pack(int colFrom, int colTo, int rowFrom, int rowTo, float[] panels);
  }

  /**
   * The packer for {@code count} images from {@code image}: from phase planes where they pay (built
   * here, over the workers when the group's product is shared out), else gathering from the images
   * themselves.
   */
  private static ColumnPacker columnPacker(
      ConvGeometry g, float[] x, int image, int count, boolean parallelInside) {
    if (!Phases.pay(g, parallelInside)) {
      return (colFrom, colTo, rowFrom, rowTo, panels) ->
          im2colPanels(g, x, image, count, colFrom, colTo, rowFrom, rowTo, panels);
    }
    Phases phases = Phases.of(g);
    float[] xp = SCRATCH.get(2, phases.size(count));
    int channels = count * g.inChannels();
    if (parallelInside) {
      Parallel.forRange(channels, 1, (lo, hi) -> phases.fill(x, image, lo, hi, xp));
    } else {
      phases.fill(x, image, 0, channels, xp);
    }
    return (colFrom, colTo, rowFrom, rowTo, panels) ->
        im2colPanels(phases, xp, count, colFrom, colTo, rowFrom, rowTo, panels);
  }

  /**
   * One output plane through the epilogue: {@code dst = act(src + bias[o] + residual)}, where the
   * residual plane sits at {@code at} past the residual's offset.
   */
  private static void finish(
      float[] src, int srcOff, float[] dst, int dstOff, int len, Epilogue ep, int o, int at) {
    float b = ep.bias() == null ? 0f : ep.bias()[ep.biasOff() + o];
    float[] res = ep.residual();
    int resOff = ep.residualOff() + at;
    float floor = ep.relu() ? 0f : Float.NEGATIVE_INFINITY;
    FloatVector bv = FloatVector.broadcast(S, b);
    FloatVector fv = FloatVector.broadcast(S, floor);
    int i = 0;
    for (; i + L <= len; i += L) {
      FloatVector v = FloatVector.fromArray(S, src, srcOff + i).add(bv);
      if (res != null) {
        v = v.add(FloatVector.fromArray(S, res, resOff + i));
      }
      v.max(fv).intoArray(dst, dstOff + i);
    }
    for (; i < len; i++) {
      float v = src[srcOff + i] + b + (res == null ? 0f : res[resOff + i]);
      dst[dstOff + i] = Math.max(v, floor);
    }
  }

  /** How much of the packed column matrix is built ahead of the GEMM: well inside a 2 MB L2. */
  private static final int PANEL_BLOCK_BYTES = 768 << 10;

  /**
   * The same when one image's product is shared out over the workers: small enough that there are
   * many blocks to share. In 768 KB blocks the stem at batch 1 was 10 blocks, split 6:4 or worse
   * between two workers: 2.30 ms against 1.97 ms (JMH; layer2.0.conv1 0.56 against 0.45-0.53).
   */
  private static final int SHARED_PANEL_BLOCK_BYTES = 96 << 10;

  /**
   * Columns {@code [colFrom, colTo)} (colFrom a multiple of NR) and rows (kernel taps) {@code
   * [rowFrom, rowTo)} of {@code count} images' column matrix, written straight into the GEMM's
   * packed panels: column {@code col} of tap {@code row} goes to {@code ((col − colFrom) / NR · CKK
   * + row) · NR + col % NR}. A last panel's columns past colTo are 0.
   *
   * <p>Each panel row is three masked vector gathers: per panel, the input position of every
   * column's window for every tap is worked out once ({@link #blockTaps}), and a mask says which
   * columns fall inside the image (the rest read as the zero padding). Copying runs of a row
   * instead costs more than the GEMM at the late layers, where a run is 7 or 14 values long.
   */
  static void im2colPanels(
      ConvGeometry g,
      float[] x,
      int xOff,
      int count,
      int colFrom,
      int colTo,
      int rowFrom,
      int rowTo,
      float[] panels) {
    int nr = CpuGemm.NR;
    int hw = g.inHeight() * g.inWidth();
    int kk = g.kernelH() * g.kernelW();
    int panelSize = g.inChannels() * kk * nr;
    int end = Math.min(colTo, count * g.outHeight() * g.outWidth());
    int[] index = new int[kk * nr];
    long[] inside = new long[kk * 3];
    for (int p0 = colFrom; p0 < colTo; p0 += nr) {
      blockTaps(g, end, p0, nr, L, index, inside);
      int base = (p0 - colFrom) / nr * panelSize;
      for (int row = rowFrom; row < rowTo; row++) {
        int tap = row % kk;
        int off = xOff + row / kk * hw;
        int map = tap * nr;
        int d = base + row * nr;
        FloatVector.fromArray(S, x, off, index, map, VectorMask.fromLong(S, inside[tap * 3]))
            .intoArray(panels, d);
        FloatVector.fromArray(
                S, x, off, index, map + L, VectorMask.fromLong(S, inside[tap * 3 + 1]))
            .intoArray(panels, d + L);
        FloatVector.fromArray(
                S, x, off, index, map + 2 * L, VectorMask.fromLong(S, inside[tap * 3 + 2]))
            .intoArray(panels, d + 2 * L);
      }
    }
  }

  /**
   * For the {@code width} columns from {@code first} (those from {@code end} on are the block's
   * zero tail), per tap: each column's input index from its channel plane's start, at {@code
   * index[tap · width + t]} (0 where it falls in the padding: the vector API checks every lane's
   * index, masked or not), and a bit per column inside the image, {@code lanes} bits to a long.
   */
  private static void blockTaps(
      ConvGeometry g, int end, int first, int width, int lanes, int[] index, long[] inside) {
    int h = g.inHeight();
    int w = g.inWidth();
    int ow = g.outWidth();
    int ohw = g.outHeight() * ow;
    int kw = g.kernelW();
    int kk = g.kernelH() * kw;
    int vectors = (width + lanes - 1) / lanes;
    java.util.Arrays.fill(inside, 0, kk * vectors, 0L);
    for (int t = 0; t < width; t++) {
      int col = first + t;
      int image = col / ohw * g.inChannels() * h * w;
      int cornerY = col % ohw / ow * g.strideH() - g.padH(); // the window's corner, in the padding
      int cornerX = col % ow * g.strideW() - g.padW();
      for (int tap = 0; tap < kk; tap++) {
        int iy = cornerY + tap / kw;
        int ix = cornerX + tap % kw;
        boolean in = col < end && iy >= 0 && iy < h && ix >= 0 && ix < w;
        index[tap * width + t] = in ? image + iy * w + ix : 0;
        if (in) {
          inside[tap * vectors + t / lanes] |= 1L << (t % lanes);
        }
      }
    }
  }

  /**
   * Columns {@code [colFrom, colTo)} (colFrom a multiple of NR) and rows (kernel taps) {@code
   * [rowFrom, rowTo)} of {@code count} images' column matrix, read from their phase planes {@code
   * xp} and written straight into the GEMM's packed panels: column {@code col} of tap {@code row}
   * goes to {@code ((col − colFrom) / NR · CKK + row) · NR + col % NR}. A last panel's columns past
   * colTo are 0.
   *
   * <p>Each panel row is three vectors. One whose columns lie in one output row is a plain load;
   * one that crosses into the next row (or image) gathers, masked only past the end.
   */
  static void im2colPanels(
      Phases ph,
      float[] xp,
      int count,
      int colFrom,
      int colTo,
      int rowFrom,
      int rowTo,
      float[] panels) {
    int nr = CpuGemm.NR;
    int ckk = ph.g().inChannels() * ph.g().kernelH() * ph.g().kernelW();
    int end = Math.min(colTo, count * ph.g().outHeight() * ph.g().outWidth());
    int[] taps = ph.taps();
    int[] base = new int[nr];
    int[] starts = new int[L];
    for (int p0 = colFrom; p0 < colTo; p0 += nr) {
      int panel = (p0 - colFrom) / nr * ckk * nr;
      for (int v = 0; v < nr; v += L) {
        int valid = Math.max(0, Math.min(L, end - p0 - v));
        ph.pixelBases(p0 + v, valid, base, v);
        int d = panel + rowFrom * nr + v;
        int runs = valid == L ? runs(base, v, starts) : 0;
        // One, two and three runs written out: a vector built up in a loop over the runs would be
        // one value or another after a branch, which C2 boxes.
        if (runs == 1) {
          for (int r = rowFrom; r < rowTo; r++, d += nr) {
            FloatVector.fromArray(S, xp, taps[r] + base[v]).intoArray(panels, d);
          }
        } else if (runs == 2) {
          int s1 = starts[1];
          VectorMask<Float> from1 = VectorMask.fromLong(S, -1L << s1);
          int at1 = base[v + s1] - s1;
          for (int r = rowFrom; r < rowTo; r++, d += nr) {
            FloatVector.fromArray(S, xp, taps[r] + base[v])
                .blend(FloatVector.fromArray(S, xp, taps[r] + at1), from1)
                .intoArray(panels, d);
          }
        } else if (runs == 3) {
          int s1 = starts[1];
          int s2 = starts[2];
          VectorMask<Float> from1 = VectorMask.fromLong(S, -1L << s1);
          VectorMask<Float> from2 = VectorMask.fromLong(S, -1L << s2);
          int at1 = base[v + s1] - s1;
          int at2 = base[v + s2] - s2;
          for (int r = rowFrom; r < rowTo; r++, d += nr) {
            FloatVector.fromArray(S, xp, taps[r] + base[v])
                .blend(FloatVector.fromArray(S, xp, taps[r] + at1), from1)
                .blend(FloatVector.fromArray(S, xp, taps[r] + at2), from2)
                .intoArray(panels, d);
          }
        } else if (valid == L) {
          for (int r = rowFrom; r < rowTo; r++, d += nr) {
            FloatVector.fromArray(S, xp, taps[r], base, v).intoArray(panels, d);
          }
        } else {
          VectorMask<Float> inside = VectorMask.fromLong(S, (1L << valid) - 1);
          for (int r = rowFrom; r < rowTo; r++, d += nr) {
            FloatVector.fromArray(S, xp, taps[r], base, v, inside).intoArray(panels, d);
          }
        }
      }
    }
  }

  /**
   * The runs of consecutive values in {@code base[v, v + L)}: how many, and the lane each starts at
   * in {@code starts}. A run from lane s is one whole-vector load from s values before its first,
   * blended in from lane s on: bases grow by at least one a lane, so every such load lies between
   * the first lane's value and the last's.
   */
  private static int runs(int[] base, int v, int[] starts) {
    int n = 1;
    starts[0] = 0;
    for (int t = 1; t < L; t++) {
      if (base[v + t] != base[v + t - 1] + 1) {
        starts[n++] = t;
      }
    }
    return n;
  }

  /**
   * Where a group's images sit once zero-padded and split by stride into phase planes: plane {@code
   * (py, px)} of a channel holds the padded image's pixels {@code (a·sH + py, b·sW + px)}. Tap
   * {@code (kh, kw)} of output pixel {@code (oy, ox)} then lies at {@code (oy + kh / sH, ox + kw /
   * sW)} of plane {@code (kh % sH, kw % sW)}: a fixed offset per tap from a base per pixel, and
   * consecutive pixels of an output row are consecutive values. So a column-matrix row is plain
   * vector loads where the image itself needs a masked gather (the stem's 7×7 stride 2 packed at a
   * third of the GEMM's speed that way), and no lane ever reads outside the planes. {@code
   * taps[row]} is tap row {@code (c·KH + kh)·KW + kw} of the column matrix as an offset from a
   * pixel's base, worked out once here, not for every block of panels (their divisions were a tenth
   * of the stem at batch 1).
   */
  record Phases(ConvGeometry g, int height, int width, int[] taps) {
    /**
     * Whether building the planes pays: the taps read each plane value at least 4 times over
     * ({@code KH·KW ≥ 4·sH·sW}), so the copy is small beside the packing, and output rows are at
     * least two vectors wide, so most of a panel's vectors become plain loads. One image, two
     * workers, ms: the stem 1.95 against 1.10, a 112-wide 3×3 2.39 against 1.98; a 3×3 stride 2
     * (2.25 reads a value) 0.51 against 0.64, layer3's 14-wide 3×3 0.96 against 1.02. Where the
     * group's product is not shared out (a batch of images, each worker its own), rows one vector
     * wide are enough: a vector then spans at most two rows, a load and a blend each. Batch 32, ms
     * (JMH): layer2.0.conv1 (28-wide rows) 18.9 against 13.7, layer2.0.downsample 3.77 against
     * 2.30; layer3.0.conv1 (14 wide, up to three rows a vector) 14.0 against 13.8, layer4.0.conv1
     * (7 wide: gathers still) 12.2 against 15.2.
     */
    static boolean pay(ConvGeometry g, boolean shared) {
      int kk = g.kernelH() * g.kernelW();
      return kk >= 4 * g.strideH() * g.strideW() && g.outWidth() >= 2 * L
          || !shared && g.outWidth() >= L;
    }

    static Phases of(ConvGeometry g) {
      int height = g.outHeight() + (g.kernelH() - 1) / g.strideH();
      int width = g.outWidth() + (g.kernelW() - 1) / g.strideW();
      int kk = g.kernelH() * g.kernelW();
      int area = height * width;
      int[] taps = new int[g.inChannels() * kk];
      for (int row = 0; row < taps.length; row++) {
        int kh = row % kk / g.kernelW();
        int kw = row % g.kernelW();
        int plane = kh % g.strideH() * g.strideW() + kw % g.strideW();
        taps[row] =
            row / kk * g.strideH() * g.strideW() * area
                + plane * area
                + kh / g.strideH() * width
                + kw / g.strideW();
      }
      return new Phases(g, height, width, taps);
    }

    private int area() {
      return height * width;
    }

    private int channelSize() {
      return g.strideH() * g.strideW() * area();
    }

    /** The length of {@code count} images' planes. */
    int size(int count) {
      return count * g.inChannels() * channelSize();
    }

    /**
     * The bases of columns {@code [col, col + valid)} of the group's column matrix (column c is
     * pixel c % OHW of image c / OHW) into {@code base[at ..]}, and 0 for the rest of a vector:
     * divisions for the first only, the others counted on from it.
     */
    void pixelBases(int col, int valid, int[] base, int at) {
      int ohw = g.outHeight() * g.outWidth();
      int image = col / ohw;
      int oy = col % ohw / g.outWidth();
      int ox = col % ohw % g.outWidth();
      int imageSize = g.inChannels() * channelSize();
      for (int t = 0; t < L; t++) {
        base[at + t] = t < valid ? image * imageSize + oy * width + ox : 0;
        if (++ox == g.outWidth()) {
          ox = 0;
          if (++oy == g.outHeight()) {
            oy = 0;
            image++;
          }
        }
      }
    }

    /**
     * Writes channels {@code [from, to)} of the group (channel {@code i·C + c} is channel c of
     * image i; images follow each other from xOff) into their planes in {@code dst}.
     */
    void fill(float[] x, int xOff, int from, int to, float[] dst) {
      int h = g.inHeight();
      int w = g.inWidth();
      int sh = g.strideH();
      int sw = g.strideW();
      int limit = to * channelSize();
      for (int ch = from; ch < to; ch++) {
        int src = xOff + ch * h * w;
        int plane = ch * channelSize();
        for (int py = 0; py < sh; py++) {
          for (int px = 0; px < sw; px++, plane += area()) {
            if (py >= g.kernelH() || px >= g.kernelW()) {
              continue; // no tap reads it: a 1×1 stride 2 reads one plane of four
            }
            // Plane columns b whose image column b·sW + px − padW falls inside [0, W).
            int first = px - g.padW();
            int lo = Math.min(width, Math.max(0, Math.ceilDiv(-first, sw)));
            int hi = Math.max(lo, Math.min(width, Math.ceilDiv(w - first, sw)));
            for (int a = 0; a < height; a++) {
              int at = plane + a * width;
              int iy = a * sh + py - g.padH();
              if (iy < 0 || iy >= h) {
                java.util.Arrays.fill(dst, at, at + width, 0f);
              } else {
                planeRow(x, src + iy * w + first, lo, hi, dst, at, limit);
              }
            }
          }
        }
      }
    }

    /**
     * One plane row from the image row whose value {@code b·sW} is the plane's value {@code b}:
     * values {@code [lo, hi)} copied, the rest 0. At stride 1 and 2 a vector is one load (two
     * de-interleaved by a permute at stride 2), stored whole: its end runs into the rows after,
     * which are written later, so only a vector that would pass {@code limit} (the end of this
     * call's planes) is copied value by value. Masked loads and stores here made the stem's planes
     * cost half its packing.
     */
    private void planeRow(float[] x, int row, int lo, int hi, float[] dst, int at, int limit) {
      int sw = g.strideW();
      int b = lo;
      // Two loops, not one with a branch: a vector that is one value or another after a branch
      // is boxed, and the copy ran 3× slower.
      if (sw == 1) {
        for (; b < hi && at + b + L <= limit && row + b + L <= x.length; b += L) {
          FloatVector.fromArray(S, x, row + b).intoArray(dst, at + b);
        }
      } else if (sw == 2) {
        b = evenLanes(x, row, dst, at, b, hi, limit);
      }
      for (; b < hi; b++) {
        dst[at + b] = x[row + b * sw];
      }
      for (int t = 0; t < lo; t++) { // a call to Arrays.fill costs more than these few values
        dst[at + t] = 0f;
      }
      for (int t = hi; t < width; t++) {
        dst[at + t] = 0f;
      }
    }
  }

  /**
   * Rows (kernel taps) {@code [rowFrom, rowTo)} of the transposed column matrix of the whole batch,
   * {@code colᵀ [pixels, CKK]}, packed as the GEMM's A: slivers of {@link CpuGemm#MR} pixels, the
   * layout {@link CpuGemm#packA} makes. Pixel {@code p} of tap {@code row} goes to {@code (p / MR ·
   * CKK + row) · MR + p % MR}; a last sliver's pixels past the batch are 0.
   *
   * <p>With 16-lane vectors (AVX-512) a sliver row is half a vector, and two consecutive rows lie
   * side by side, so each gather moves two rows. Only the preferred species is used: a second one
   * in the same program made the JIT stop compiling the other gathers as vector instructions.
   */
  static void im2colSlivers(
      ConvGeometry g, float[] x, int xOff, int rowFrom, int rowTo, float[] slivers) {
    int mr = CpuGemm.MR;
    int hw = g.inHeight() * g.inWidth();
    int kk = g.kernelH() * g.kernelW();
    int pixels = g.batch() * g.outHeight() * g.outWidth();
    int sliverSize = g.inChannels() * kk * mr;
    boolean pairs = L == 2 * mr;
    int[] index = new int[kk * mr];
    long[] inside = new long[kk];
    // Per tap t, the indices and lanes inside of rows t and t + 1 (after the last tap, the next
    // channel's tap 0).
    int[] pairIndex = new int[kk * 2 * mr];
    long[] pairInside = new long[kk];
    for (int p0 = 0; p0 < pixels; p0 += mr) {
      blockTaps(g, pixels, p0, mr, mr, index, inside);
      int base = p0 / mr * sliverSize;
      int row = rowFrom;
      if (pairs) {
        for (int tap = 0; tap < kk; tap++) {
          int next = (tap + 1) % kk;
          int shift = next == 0 ? hw : 0;
          for (int t = 0; t < mr; t++) {
            pairIndex[tap * L + t] = index[tap * mr + t];
            pairIndex[tap * L + mr + t] = index[next * mr + t] + shift;
          }
          pairInside[tap] = inside[tap] | inside[next] << mr;
        }
        for (; row + 2 <= rowTo; row += 2) {
          int tap = row % kk;
          FloatVector.fromArray(
                  S,
                  x,
                  xOff + row / kk * hw,
                  pairIndex,
                  tap * L,
                  VectorMask.fromLong(S, pairInside[tap]))
              .intoArray(slivers, base + row * mr);
        }
      }
      for (; row < rowTo; row++) { // other vector widths, and an odd last row
        int tap = row % kk;
        int off = xOff + row / kk * hw;
        for (int t = 0; t < mr; t++) {
          boolean in = (inside[tap] >>> t & 1) != 0;
          slivers[base + row * mr + t] = in ? x[off + index[tap * mr + t]] : 0f;
        }
      }
    }
  }

  /**
   * Whether a convolution's product is better computed pixel-major, {@code yᵀ [pixels, OC] = colᵀ ×
   * wᵀ}, than channel-major, {@code y = w × col}. The GEMM computes whole 8-row slivers and
   * 48-column panels; at batch 1 layer4 has 49 pixels, which channel-major pads to 96 columns (half
   * the products wasted) and pixel-major to 56 rows. Only for outputs that are one product (under
   * 256 pixels over the batch), and only where it saves a fifth of the padded products.
   */
  static boolean pixelMajorPays(ConvGeometry g) {
    int pixels = g.batch() * g.outHeight() * g.outWidth();
    int oc = g.outChannels();
    if (pixels >= 256) {
      return false;
    }
    // Padded rows × padded columns: slivers of MR rows, panels of NR columns.
    long channelMajor = (long) CpuGemm.packedASize(oc, 1) * CpuGemm.packedBSize(pixels, 1);
    long pixelMajor = (long) CpuGemm.packedASize(pixels, 1) * CpuGemm.packedBSize(oc, 1);
    return 5 * pixelMajor < 4 * channelMajor;
  }

  /** The weights {@code w [OC, CKK]} as the pixel-major product's B: wᵀ in panels of OC. */
  static float[] packPixelMajor(ConvGeometry g, float[] w, int wOff) {
    int ckk = g.inChannels() * g.kernelH() * g.kernelW();
    int oc = g.outChannels();
    return CpuGemm.packB(
        new CpuGemm.Operand(true, w, wOff), oc, ckk, new float[CpuGemm.packedBSize(oc, ckk)]);
  }

  /**
   * The forward pass as {@code yᵀ = colᵀ × wᵀ} (see {@link #pixelMajorPays}), weights from {@link
   * #packPixelMajor}: the column matrix is built straight into A's slivers, each worker multiplies
   * a share of output channels and writes them back to {@code [N, OC, OH, OW]} through the
   * epilogue.
   */
  static void forwardPixelMajor(
      ConvGeometry g, float[] x, int xOff, float[] packedWt, Epilogue ep, float[] y, int yOff) {
    int ckk = g.inChannels() * g.kernelH() * g.kernelW();
    int ohw = g.outHeight() * g.outWidth();
    int oc = g.outChannels();
    int pixels = g.batch() * ohw;
    int slivers = (pixels + CpuGemm.MR - 1) / CpuGemm.MR;
    float[] a = SCRATCH.get(0, CpuGemm.packedASize(pixels, ckk));
    Parallel.forRange(ckk, 64, (lo, hi) -> im2colSlivers(g, x, xOff, lo, hi, a));
    // [pixels, OC], rows a cache line longer: at 512 channels they were 2 KB, and reading a
    // channel back down the rows fell into one L1 set every other row.
    int ldc = oc + 16;
    float[] c = SCRATCH.get(1, pixels * ldc);
    int outImage = oc * ohw;
    // Each worker takes a run of vectors of channels, not whole panels: layer4's 11 panels went
    // 6:5 on 2 workers; its 32 vectors go 16:16, six kernel calls each (CpuGemm.columnRuns).
    int vectors = (oc + L - 1) / L;
    CpuGemm.forColumnRuns(
        vectors,
        (v0, v1) -> {
          float[] column = new float[pixels]; // one channel's values, back in pixel order
          int o0 = v0 * L;
          int o1 = Math.min(oc, v1 * L);
          for (int p = 0; p < pixels; p++) {
            java.util.Arrays.fill(c, p * ldc + o0, p * ldc + o1, 0f);
          }
          CpuGemm.columns(pixels, ldc, ckk, a, 0, packedWt, c, o0, o0, o1, 0, slivers);
          for (int o = o0; o < o1; o++) {
            for (int p = 0; p < pixels; p++) {
              column[p] = c[p * ldc + o];
            }
            for (int i = 0; i < g.batch(); i++) {
              int at = i * outImage + o * ohw;
              finish(column, i * ohw, y, yOff + at, ohw, ep, o, at);
            }
          }
        });
  }

  static void backwardData(
      ConvGeometry g, float[] dy, int dyOff, float[] w, int wOff, float[] dx, int dxOff) {
    int ckk = g.inChannels() * g.kernelH() * g.kernelW();
    int ohw = g.outHeight() * g.outWidth();
    int oc = g.outChannels();
    int inImage = g.inChannels() * g.inHeight() * g.inWidth();
    int outImage = oc * ohw;
    // dcol = wᵀ · dy: wᵀ packed once for every group.
    float[] wt = CpuGemm.packA(true, ckk, oc, w, wOff, new float[CpuGemm.packedASize(ckk, oc)]);
    forGroups(
        g,
        (first, count, parallelInside) -> {
          int cols = count * ohw;
          float[] dyG =
              count == 1
                  ? dy
                  : groupMajor(
                      dy, dyOff + first * outImage, count, oc, ohw, SCRATCH.get(1, oc * cols));
          int dyGOff = count == 1 ? dyOff + first * outImage : 0;
          if (count == 1 && g.isSquare(1, 1, 0)) {
            int at = dxOff + first * inImage;
            java.util.Arrays.fill(dx, at, at + inImage, 0f);
            CpuGemm.multiply(
                ckk,
                ohw,
                oc,
                1f,
                wt,
                new CpuGemm.Operand(false, dyG, dyGOff),
                dx,
                at,
                parallelInside);
            return;
          }
          float[] col = SCRATCH.get(0, ckk * cols);
          java.util.Arrays.fill(col, 0, ckk * cols, 0f);
          CpuGemm.multiply(
              ckk,
              cols,
              oc,
              1f,
              wt,
              new CpuGemm.Operand(false, dyG, dyGOff),
              col,
              0,
              parallelInside);
          for (int i = 0; i < count; i++) {
            int dxo = dxOff + (first + i) * inImage;
            java.util.Arrays.fill(dx, dxo, dxo + inImage, 0f);
            col2im(g, col, i * ohw, cols, dx, dxo);
          }
        });
  }

  /** {@code dw = sum over images of dy[n] × colᵀ}; per-group partial sums, then reduced. */
  static void backwardFilter(
      ConvGeometry g,
      float[] x,
      int xOff,
      float[] dy,
      int dyOff,
      float[] dw,
      int dwOff,
      float[] dbias,
      int dbiasOff) {
    int ckk = g.inChannels() * g.kernelH() * g.kernelW();
    int ohw = g.outHeight() * g.outWidth();
    int oc = g.outChannels();
    int inImage = g.inChannels() * g.inHeight() * g.inWidth();
    int outImage = oc * ohw;
    int size = groupSize(g);
    int groups = (g.batch() + size - 1) / size;
    int parts = Math.min(groups, Parallel.threads());
    float[][] partial = new float[parts][];
    boolean parallelInside = parts == 1;
    Parallel.forRange(
        parts,
        1,
        (pLo, pHi) -> {
          for (int p = pLo; p < pHi; p++) {
            float[] acc = new float[oc * ckk];
            int from = Parallel.share(groups, p, parts);
            int to = Parallel.share(groups, p + 1, parts);
            for (int k = from; k < to; k++) {
              int first = k * size;
              int count = Math.min(size, g.batch() - first);
              int cols = count * ohw;
              float[] col = SCRATCH.get(0, ckk * cols);
              for (int i = 0; i < count; i++) {
                im2col(g, x, xOff + (first + i) * inImage, col, i * ohw, cols);
              }
              float[] dyG = dy; // one image's dy is already [OC, OHW]
              int dyGOff = dyOff + first * outImage;
              if (count > 1) {
                dyG = groupMajor(dy, dyGOff, count, oc, ohw, SCRATCH.get(1, oc * cols));
                dyGOff = 0;
              }
              CpuGemm.gemm(
                  false, true, oc, ckk, cols, 1f, dyG, dyGOff, col, 0, 1f, acc, 0, parallelInside);
            }
            partial[p] = acc;
          }
        });
    for (int i = 0; i < oc * ckk; i++) {
      float s = 0f;
      for (float[] part : partial) {
        s += part[i];
      }
      dw[dwOff + i] = s;
    }
    if (dbias != null) {
      biasGradient(g, dy, dyOff, dbias, dbiasOff);
    }
  }

  /** {@code dbias[c] = Σ dy[n, c, ·, ·]}, summed in double. */
  static void biasGradient(ConvGeometry g, float[] dy, int dyOff, float[] dbias, int dbiasOff) {
    int ohw = g.outHeight() * g.outWidth();
    int oc = g.outChannels();
    for (int c = 0; c < oc; c++) {
      double s = 0;
      for (int n = 0; n < g.batch(); n++) {
        s += CpuNorm.sum(dy, dyOff + (n * oc + c) * ohw, ohw);
      }
      dbias[dbiasOff + c] = (float) s;
    }
  }

  /** The input index {@link Run} gets for an output row that lies wholly in the padding. */
  private static final int PADDING_ROW = Integer.MIN_VALUE;

  /**
   * One output row of one tap of the column matrix: its values start at {@code col} (matrix index
   * of output column 0), the input value of output column {@code q} is at {@code in + q · strideW}
   * ({@code in} itself may be negative: column 0 may be padding), and only columns {@code [lo, hi)}
   * fall inside the image; {@code in} is {@link #PADDING_ROW} when the whole row is padding.
   */
  @FunctionalInterface
  private interface Run {
    void at(int col, int in, int lo, int hi);
  }

  /**
   * Calls {@code run} for each (tap, output row) of one image's column matrix, which starts at
   * column {@code colOff} of a matrix whose rows are {@code ld} long; the image starts at xOff.
   * Shared by im2col and its adjoint, so both walk the padding the same way.
   */
  private static void forEachRun(ConvGeometry g, int xOff, int colOff, int ld, Run run) {
    int h = g.inHeight();
    int w = g.inWidth();
    int ow = g.outWidth();
    int s = g.strideW();
    int kk = g.kernelH() * g.kernelW();
    for (int row = 0; row < g.inChannels() * kk; row++) {
      int c = row / kk;
      int kh = row % kk / g.kernelW();
      int kw = row % g.kernelW();
      // Output columns whose input column xo·s − pad + kw falls inside the image.
      int lo = Math.max(0, Math.floorDiv(g.padW() - kw + s - 1, s));
      int hi = Math.max(lo, Math.min(ow, Math.floorDiv(w + g.padW() - kw + s - 1, s)));
      for (int y = 0; y < g.outHeight(); y++) {
        int ih = y * g.strideH() - g.padH() + kh;
        boolean inside = ih >= 0 && ih < h;
        run.at(
            row * ld + colOff + y * ow,
            inside ? xOff + (c * h + ih) * w - g.padW() + kw : PADDING_ROW,
            lo,
            hi);
      }
    }
  }

  /**
   * One image's column matrix {@code [C*KH*KW, OH*OW]}, written at column {@code colOff} of a
   * matrix whose rows are {@code ld} long; taps that fall in the padding are 0. Row {@code (c·KH +
   * kh)·KW + kw} is one tap: per output row, a run of the input row (copied whole at stride 1).
   */
  static void im2col(ConvGeometry g, float[] x, int xOff, float[] col, int colOff, int ld) {
    int ow = g.outWidth();
    int sw = g.strideW();
    forEachRun(
        g,
        xOff,
        colOff,
        ld,
        (dst, src, lo, hi) -> {
          if (src == PADDING_ROW) {
            java.util.Arrays.fill(col, dst, dst + ow, 0f);
            return;
          }
          java.util.Arrays.fill(col, dst, dst + lo, 0f);
          if (sw == 1) {
            System.arraycopy(x, src + lo, col, dst + lo, hi - lo);
          } else {
            int q = sw == 2 ? evenLanes(x, src, col, dst, lo, hi, dst + hi) : lo;
            for (; q < hi; q++) {
              col[dst + q] = x[src + q * sw];
            }
          }
          java.util.Arrays.fill(col, dst + hi, dst + ow, 0f);
        });
  }

  /**
   * {@code dst[at + q] = x[src + 2q]} for q from {@code q}, a vector at a time (two loads and an
   * even-lane permute) while a vector starts before {@code end}, ends by {@code limit} in dst and
   * reads inside x; returns the q it stopped at, for the caller's scalar tail.
   */
  private static int evenLanes(float[] x, int src, float[] dst, int at, int q, int end, int limit) {
    for (; q < end && at + q + L <= limit && src + 2 * (q + L) <= x.length; q += L) {
      EVEN_LANES
          .selectFrom(
              FloatVector.fromArray(S, x, src + 2 * q),
              FloatVector.fromArray(S, x, src + 2 * q + L))
          .intoArray(dst, at + q);
    }
    return q;
  }

  /** Adds a column matrix back into an image: the adjoint of {@link #im2col}. */
  static void col2im(ConvGeometry g, float[] col, int colOff, int ld, float[] x, int xOff) {
    int sw = g.strideW();
    forEachRun(
        g,
        xOff,
        colOff,
        ld,
        (src, dst, lo, hi) -> {
          if (dst == PADDING_ROW) {
            return;
          }
          if (sw == 1) {
            int q = lo;
            for (; q + L <= hi; q += L) {
              FloatVector.fromArray(S, x, dst + q)
                  .add(FloatVector.fromArray(S, col, src + q))
                  .intoArray(x, dst + q);
            }
            for (; q < hi; q++) {
              x[dst + q] += col[src + q];
            }
          } else {
            for (int q = lo; q < hi; q++) {
              x[dst + q * sw] += col[src + q];
            }
          }
        });
  }
}

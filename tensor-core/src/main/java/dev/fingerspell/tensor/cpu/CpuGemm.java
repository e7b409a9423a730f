package dev.fingerspell.tensor.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * Single-precision matrix product on row-major arrays: {@code C = alpha * op(A) op(B) + beta * C}.
 *
 * <p>Both operands are first packed so that the inner loop reads memory strictly in order: A into
 * slivers of {@link #MR} rows (for each k, the sliver's MR values side by side), B into panels of
 * {@link #NR} columns (for each k, the panel's NR values side by side). Rows and columns past the
 * matrix are packed as zeros, so one register-tiled kernel serves every tile and only its stores
 * look at the edges. The kernel holds an 8 × 48 tile of C in 24 vector registers (AVX-512: 16
 * lanes); each step loads three vectors of B, broadcasts eight values of A and issues 24 fused
 * multiply-adds, enough independent chains to keep both FMA ports busy. A B panel (k × NR) stays in
 * the core's L2 while every sliver of A streams past it.
 *
 * <p>Measured on the development machine (Xeon, AVX-512, one core): 150–170 GFLOP/s for the 3×3
 * shapes of ResNet18, against about 41 for the unpacked 4 × 2 kernel this replaced.
 */
final class CpuGemm {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int L = S.length();

  /** Rows of C per kernel call. */
  static final int MR = 8;

  /** Columns of C per kernel call: three vectors. */
  static final int NR = 3 * L;

  /**
   * Below this many multiply-adds (about 30 µs on one core) a product is not worth splitting over
   * the workers: waking them costs tens of microseconds. The head's products at batch 64 (64 × 29 ×
   * 512) are below it.
   */
  private static final long PARALLEL_MIN = 1L << 22;

  /** Per-thread packing buffers: 0 = packed A, 1 = packed B. */
  private static final ThreadScratch SCRATCH = new ThreadScratch(2);

  private CpuGemm() {}

  /**
   * The product. {@code parallel} splits the work over the backend's workers; kernels that already
   * run one product per worker pass false.
   */
  static void gemm(
      boolean transA,
      boolean transB,
      int m,
      int n,
      int k,
      float alpha,
      float[] a,
      int aOff,
      float[] b,
      int bOff,
      float beta,
      float[] c,
      int cOff,
      boolean parallel) {
    scale(c, cOff, m * n, beta);
    if (m == 0 || n == 0 || k == 0 || alpha == 0f) {
      return;
    }
    float[] ap = packA(transA, m, k, a, aOff, SCRATCH.get(0, packedASize(m, k)));
    multiply(m, n, k, alpha, ap, new Operand(transB, b, bOff), c, cOff, parallel);
  }

  /** Where op(B) lives: row-major {@code k × n}, or its transpose stored {@code n × k}. */
  record Operand(boolean transposed, float[] data, int offset) {}

  /** {@code C += alpha · A·op(B)} with A already packed by {@link #packA}. */
  static void multiply(
      int m,
      int n,
      int k,
      float alpha,
      float[] ap,
      Operand b,
      float[] c,
      int cOff,
      boolean parallel) {
    int panels = (n + NR - 1) / NR;
    int slivers = (m + MR - 1) / MR;
    int threads = Parallel.threads();
    if (serial(parallel, m, n, k)) {
      float[] bp = SCRATCH.get(1, k * NR);
      for (int jp = 0; jp < panels; jp++) {
        packBPanel(b, n, k, jp * NR, bp, 0);
        panel(m, n, k, alpha, ap, bp, 0, jp * NR, c, cOff, 0, slivers);
      }
    } else if (panels >= 2 * threads || slivers < 2 * threads) {
      // Each worker packs and multiplies its own panels: no shared writes.
      Parallel.forRange(
          panels,
          1,
          (lo, hi) -> {
            float[] bp = SCRATCH.get(1, k * NR);
            for (int jp = lo; jp < hi; jp++) {
              packBPanel(b, n, k, jp * NR, bp, 0);
              panel(m, n, k, alpha, ap, bp, 0, jp * NR, c, cOff, 0, slivers);
            }
          });
    } else {
      // Few, tall panels (a small batch at a late layer): pack B once, split the rows.
      float[] bp = packB(b, n, k, SCRATCH.get(1, packedBSize(n, k)));
      multiplyPacked(m, n, k, alpha, ap, bp, c, cOff, true);
    }
  }

  /** Whether a product runs on the calling thread: asked to, one worker, or too small to split. */
  private static boolean serial(boolean parallel, int m, int n, int k) {
    return !parallel || Parallel.threads() == 1 || (long) m * n * k < PARALLEL_MIN;
  }

  /** The length of all of op(B)'s panels, packed one after another (panel jp at jp·k·NR). */
  static int packedBSize(int n, int k) {
    return (n + NR - 1) / NR * NR * k;
  }

  /** {@code C += alpha · A·B} with both operands packed ({@link #packA}, panels of B in order). */
  static void multiplyPacked(
      int m,
      int n,
      int k,
      float alpha,
      float[] ap,
      float[] bp,
      float[] c,
      int cOff,
      boolean parallel) {
    int panels = (n + NR - 1) / NR;
    int slivers = (m + MR - 1) / MR;
    if (serial(parallel, m, n, k)) {
      for (int jp = 0; jp < panels; jp++) {
        panel(m, n, k, alpha, ap, bp, jp * k * NR, jp * NR, c, cOff, 0, slivers);
      }
    } else if (panels >= 2 * Parallel.threads()) {
      Parallel.forRange(
          panels,
          1,
          (lo, hi) -> {
            for (int jp = lo; jp < hi; jp++) {
              panel(m, n, k, alpha, ap, bp, jp * k * NR, jp * NR, c, cOff, 0, slivers);
            }
          });
    } else {
      Parallel.forRange(
          slivers,
          1,
          (lo, hi) -> {
            for (int jp = 0; jp < panels; jp++) {
              panel(m, n, k, alpha, ap, bp, jp * k * NR, jp * NR, c, cOff, lo, hi);
            }
          });
    }
  }

  /**
   * {@code C += A·B} for the columns of panels {@code [p0, p1)} of B, those panels packed one after
   * another from {@code bp[0]}: a caller that builds B a few panels at a time.
   */
  static void multiplyPanels(
      int m, int n, int k, float[] ap, float[] bp, int p0, int p1, float[] c, int cOff) {
    int slivers = (m + MR - 1) / MR;
    for (int jp = p0; jp < p1; jp++) {
      panel(m, n, k, 1f, ap, bp, (jp - p0) * k * NR, jp * NR, c, cOff, 0, slivers);
    }
  }

  /** The length {@link #packA} fills: whole slivers of k columns. */
  static int packedASize(int m, int k) {
    return (m + MR - 1) / MR * MR * k;
  }

  /**
   * Packs op(A) ({@code m × k}; stored {@code k × m} when transposed) into slivers: value (i, p)
   * goes to {@code dst[((i / MR) · k + p) · MR + i % MR]}; rows past m are 0. Returns {@code dst}.
   */
  static float[] packA(boolean transA, int m, int k, float[] a, int aOff, float[] dst) {
    boolean gather = !transA && L == 2 * MR;
    int[] pairs = PAIRS.get();
    if (gather) {
      // Rows i0..i0+7 at columns p and p+1 are one 16-lane gather (index r·k + p, r·k + p + 1).
      for (int t = 0; t < L; t++) {
        pairs[t] = t % MR * k + t / MR;
      }
    }
    for (int i0 = 0; i0 < m; i0 += MR) {
      int rows = Math.min(MR, m - i0);
      int base = i0 * k;
      int p = 0;
      if (gather && rows == MR) {
        int from = aOff + i0 * k;
        for (; p + 2 <= k; p += 2) {
          FloatVector.fromArray(S, a, from + p, pairs, 0).intoArray(dst, base + p * MR);
        }
      }
      for (; p < k; p++) {
        int d = base + p * MR;
        for (int r = 0; r < rows; r++) {
          dst[d + r] = transA ? a[aOff + p * m + i0 + r] : a[aOff + (i0 + r) * k + p];
        }
        for (int r = rows; r < MR; r++) {
          dst[d + r] = 0f;
        }
      }
    }
    return dst;
  }

  /** Packs all of op(B) ({@code k × n}) as panels one after another (panel jp at jp·k·NR). */
  static float[] packB(Operand b, int n, int k, float[] dst) {
    for (int j = 0; j < n; j += NR) {
      packBPanel(b, n, k, j, dst, j * k);
    }
    return dst;
  }

  /**
   * Packs columns {@code [j, j + NR)} of op(B) ({@code k × n}) at {@code dst[dstOff ..]}: value (p,
   * j + t) goes to {@code p · NR + t}; columns past n are 0.
   */
  static void packBPanel(Operand b, int n, int k, int j, float[] dst, int dstOff) {
    int cols = Math.min(NR, n - j);
    float[] src = b.data();
    if (b.transposed()) {
      // Stored n × k: column j + t is the row j + t, so each panel row is three gathers with
      // stride k (lanes past n are masked off and point at a valid index).
      int[] index = GATHER.get();
      for (int t = 0; t < NR; t++) {
        index[t] = t < cols ? t * k : 0;
      }
      int from = b.offset() + j * k;
      if (cols == NR) {
        for (int p = 0, d = dstOff; p < k; p++, d += NR) {
          FloatVector.fromArray(S, src, from + p, index, 0).intoArray(dst, d);
          FloatVector.fromArray(S, src, from + p, index, L).intoArray(dst, d + L);
          FloatVector.fromArray(S, src, from + p, index, 2 * L).intoArray(dst, d + 2 * L);
        }
      } else {
        VectorMask<Float> m0 = S.indexInRange(0, cols);
        VectorMask<Float> m1 = S.indexInRange(L, cols);
        VectorMask<Float> m2 = S.indexInRange(2 * L, cols);
        for (int p = 0, d = dstOff; p < k; p++, d += NR) {
          FloatVector.fromArray(S, src, from + p, index, 0, m0).intoArray(dst, d);
          FloatVector.fromArray(S, src, from + p, index, L, m1).intoArray(dst, d + L);
          FloatVector.fromArray(S, src, from + p, index, 2 * L, m2).intoArray(dst, d + 2 * L);
        }
      }
      return;
    }
    if (cols == NR) {
      for (int p = 0, s = b.offset() + j, d = dstOff; p < k; p++, s += n, d += NR) {
        FloatVector.fromArray(S, src, s).intoArray(dst, d);
        FloatVector.fromArray(S, src, s + L).intoArray(dst, d + L);
        FloatVector.fromArray(S, src, s + 2 * L).intoArray(dst, d + 2 * L);
      }
      return;
    }
    for (int p = 0, s = b.offset() + j, d = dstOff; p < k; p++, s += n, d += NR) {
      System.arraycopy(src, s, dst, d, cols);
      java.util.Arrays.fill(dst, d + cols, d + NR, 0f);
    }
  }

  /**
   * Slivers {@code [s0, s1)} of packed A times one packed panel of B (at {@code bpOff}), added into
   * the columns {@code [j, j + NR)} of C, whose rows are {@code n} long.
   */
  static void panel(
      int m,
      int n,
      int k,
      float alpha,
      float[] ap,
      float[] bp,
      int bpOff,
      int j,
      float[] c,
      int cOff,
      int s0,
      int s1) {
    panelColumns(m, n, Math.min(NR, n - j), k, alpha, ap, 0, bp, bpOff, c, cOff + j, s0, s1);
  }

  /**
   * The same for the first {@code cols} columns of the panel, added into C from {@code cOff} with
   * rows {@code ldc} long, A's slivers from {@code ap[apOff]}: a caller whose C is narrower than
   * its rows, or whose A is one of several in an array (Winograd's M and V). A panel may also start
   * at one of its vectors ({@code bpOff} inside a panel), the kernels stepping its rows by NR.
   */
  static void panelColumns(
      int m,
      int ldc,
      int cols,
      int k,
      float alpha,
      float[] ap,
      int apOff,
      float[] bp,
      int bpOff,
      float[] c,
      int cOff,
      int s0,
      int s1) {
    panelColumns(m, ldc, cols, k, 0, k, alpha, ap, apOff, bp, bpOff, c, cOff, s0, s1);
  }

  /** The same over rows {@code [k0, k1)} of the panel and columns of the slivers only. */
  private static void panelColumns(
      int m,
      int ldc,
      int cols,
      int k,
      int k0,
      int k1,
      float alpha,
      float[] ap,
      int apOff,
      float[] bp,
      int bpOff,
      float[] c,
      int cOff,
      int s0,
      int s1) {
    for (int s = s0; s < s1; s++) {
      int i = s * MR;
      int rows = Math.min(MR, m - i);
      sliver(
          ap,
          apOff + s * MR * k + k0 * MR,
          bp,
          bpOff + k0 * NR,
          k1 - k0,
          alpha,
          c,
          cOff + i * ldc,
          ldc,
          rows,
          cols);
    }
  }

  /**
   * One sliver times (part of) one panel, {@code k} rows of each from {@code pa} and {@code pb}. A
   * last, narrow panel multiplies only the vectors it has: 49 Winograd tiles (layer2 at batch 1)
   * are one full panel and one column, which the 3-vector kernel pads to 48.
   */
  private static void sliver(
      float[] ap,
      int pa,
      float[] bp,
      int pb,
      int k,
      float alpha,
      float[] c,
      int ci,
      int ldc,
      int rows,
      int cols) {
    if (cols <= L) {
      kernel1(ap, pa, bp, pb, k, alpha, c, ci, ldc, rows, cols);
    } else if (cols <= 2 * L) {
      kernel2(ap, pa, bp, pb, k, alpha, c, ci, ldc, rows, cols);
    } else {
      kernel(ap, pa, bp, pb, k, alpha, c, ci, ldc, rows, cols);
    }
  }

  /**
   * How {@code parts} workers share {@code vectors} vectors of B's columns in {@link #columns}: the
   * boundaries ({@code parts + 1} of them, in vectors) of contiguous runs that keep the largest
   * run's cost smallest. A run costs its vectors plus two for each panel it touches, as each part
   * of a panel is one more kernel call that streams A's sliver again and a part-panel kernel does
   * fewer multiply-adds per load. Equal runs of layer3's 16 vectors (5⅓ panels) at batch 1 left one
   * worker two part-panels; 9 + 7 gives each three calls: the whole pass ×1.025–1.033 (one JVM,
   * alternating, 2 threads). Runs come out in order, the first ones taking the most.
   */
  static int[] columnRuns(int vectors, int parts) {
    int lo = 0;
    int hi = runCost(0, vectors);
    while (lo < hi) { // the least largest cost that some split into `parts` runs meets
      int mid = (lo + hi) >>> 1;
      if (fillRuns(vectors, parts, mid, null)) {
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
    int[] bounds = new int[parts + 1];
    fillRuns(vectors, parts, lo, bounds);
    return bounds;
  }

  /** A body over one worker's run of vectors {@code [v0, v1)} of B's columns. */
  @FunctionalInterface
  interface ColumnRun {
    void run(int v0, int v1);
  }

  /**
   * Runs {@code body} over the {@link #columnRuns} of {@code vectors} for this machine's workers,
   * each run on one worker; a run left empty (more workers than the runs need) is not run.
   */
  static void forColumnRuns(int vectors, ColumnRun body) {
    int[] runs = columnRuns(vectors, Math.min(vectors, Parallel.threads()));
    Parallel.forRange(
        runs.length - 1,
        1,
        (lo, hi) -> {
          for (int part = lo; part < hi; part++) {
            if (runs[part] < runs[part + 1]) {
              body.run(runs[part], runs[part + 1]);
            }
          }
        });
  }

  /**
   * Whether greedy runs of at most {@code cost} cover all vectors; writes their bounds if asked.
   */
  private static boolean fillRuns(int vectors, int parts, int cost, int[] bounds) {
    int v = 0;
    for (int part = 0; part < parts; part++) {
      int from = v;
      while (v < vectors && runCost(from, v + 1) <= cost) {
        v++;
      }
      if (bounds != null) {
        bounds[part] = from;
        bounds[part + 1] = v;
      }
    }
    return v == vectors;
  }

  private static int runCost(int from, int to) {
    int perPanel = NR / L;
    return from == to ? 0 : to - from + 2 * ((to - 1) / perPanel - from / perPanel + 1);
  }

  /**
   * {@code C[:, j0..j1) += A · B[:, j0..j1)} for slivers {@code [s0, s1)} of A (from {@code
   * ap[apOff]}), B packed as panels from {@code bp[0]} ({@link #packB}), C's column j0 at {@code
   * c[cOff]} with rows {@code ldc} long: a panel, or the part of one, at a time, and {@link
   * #K_BLOCK} of its rows at a time through every sliver. j0 is a multiple of L, so a part of a
   * panel starts at one of its vectors; a worker can take any run of vectors of B's columns, not
   * only whole panels.
   */
  static void columns(
      int m,
      int ldc,
      int k,
      float[] ap,
      int apOff,
      float[] bp,
      float[] c,
      int cOff,
      int j0,
      int j1,
      int s0,
      int s1) {
    for (int j = j0; j < j1; ) {
      int within = j % NR;
      int cols = Math.min(NR - within, j1 - j);
      int panel = (j - within) * k + within;
      for (int k0 = 0; k0 < k; k0 += K_BLOCK) {
        int k1 = Math.min(k, k0 + K_BLOCK);
        panelColumns(m, ldc, cols, k, k0, k1, 1f, ap, apOff, bp, panel, c, cOff + j - j0, s0, s1);
      }
      j += cols;
    }
  }

  /**
   * The rows of a panel {@link #columns} multiplies by every sliver before it goes on: 1024 rows of
   * 48 columns are 192 KB, which stay in L2 while each sliver uses them. Layer4's pixel-major
   * product at batch 1 has 4608 rows and 7 slivers: a whole panel (884 KB) came from DRAM for the
   * first sliver, whose pass could not hide it (0.93 ms alone, 1.20 ms in the network, where the
   * 9.4 MB of weights are cold); a block is fetched while the last one is used 7 times. Batch-1
   * pass ×1.035 (one JVM, 30 alternating blocks each, two runs; 256, 512 and 2048 rows gave
   * ×1.018–1.029).
   */
  private static final int K_BLOCK = 1024;

  /** One 8 × 48 tile: {@code C[rows, cols] += alpha · sliver · panel}. */
  private static void kernel(
      float[] ap,
      int pa,
      float[] bp,
      int pb,
      int k,
      float alpha,
      float[] c,
      int ci,
      int ldc,
      int rows,
      int cols) {
    FloatVector c00 = FloatVector.zero(S);
    FloatVector c01 = c00;
    FloatVector c02 = c00;
    FloatVector c10 = c00;
    FloatVector c11 = c00;
    FloatVector c12 = c00;
    FloatVector c20 = c00;
    FloatVector c21 = c00;
    FloatVector c22 = c00;
    FloatVector c30 = c00;
    FloatVector c31 = c00;
    FloatVector c32 = c00;
    FloatVector c40 = c00;
    FloatVector c41 = c00;
    FloatVector c42 = c00;
    FloatVector c50 = c00;
    FloatVector c51 = c00;
    FloatVector c52 = c00;
    FloatVector c60 = c00;
    FloatVector c61 = c00;
    FloatVector c62 = c00;
    FloatVector c70 = c00;
    FloatVector c71 = c00;
    FloatVector c72 = c00;
    for (int p = 0; p < k; p++, pa += MR, pb += NR) {
      FloatVector b0 = FloatVector.fromArray(S, bp, pb);
      FloatVector b1 = FloatVector.fromArray(S, bp, pb + L);
      FloatVector b2 = FloatVector.fromArray(S, bp, pb + 2 * L);
      FloatVector v = FloatVector.broadcast(S, ap[pa]);
      c00 = v.fma(b0, c00);
      c01 = v.fma(b1, c01);
      c02 = v.fma(b2, c02);
      v = FloatVector.broadcast(S, ap[pa + 1]);
      c10 = v.fma(b0, c10);
      c11 = v.fma(b1, c11);
      c12 = v.fma(b2, c12);
      v = FloatVector.broadcast(S, ap[pa + 2]);
      c20 = v.fma(b0, c20);
      c21 = v.fma(b1, c21);
      c22 = v.fma(b2, c22);
      v = FloatVector.broadcast(S, ap[pa + 3]);
      c30 = v.fma(b0, c30);
      c31 = v.fma(b1, c31);
      c32 = v.fma(b2, c32);
      v = FloatVector.broadcast(S, ap[pa + 4]);
      c40 = v.fma(b0, c40);
      c41 = v.fma(b1, c41);
      c42 = v.fma(b2, c42);
      v = FloatVector.broadcast(S, ap[pa + 5]);
      c50 = v.fma(b0, c50);
      c51 = v.fma(b1, c51);
      c52 = v.fma(b2, c52);
      v = FloatVector.broadcast(S, ap[pa + 6]);
      c60 = v.fma(b0, c60);
      c61 = v.fma(b1, c61);
      c62 = v.fma(b2, c62);
      v = FloatVector.broadcast(S, ap[pa + 7]);
      c70 = v.fma(b0, c70);
      c71 = v.fma(b1, c71);
      c72 = v.fma(b2, c72);
    }
    // The stores are written out rather than put in a helper: a vector passed to a method C2
    // does not inline gets boxed, and then the whole loop above runs boxed, 30× slower.
    if (rows == MR && cols == NR) {
      FloatVector av = FloatVector.broadcast(S, alpha);
      c00.fma(av, FloatVector.fromArray(S, c, ci)).intoArray(c, ci);
      c01.fma(av, FloatVector.fromArray(S, c, ci + L)).intoArray(c, ci + L);
      c02.fma(av, FloatVector.fromArray(S, c, ci + 2 * L)).intoArray(c, ci + 2 * L);
      c10.fma(av, FloatVector.fromArray(S, c, ci + 1 * ldc)).intoArray(c, ci + 1 * ldc);
      c11.fma(av, FloatVector.fromArray(S, c, ci + 1 * ldc + L)).intoArray(c, ci + 1 * ldc + L);
      c12.fma(av, FloatVector.fromArray(S, c, ci + 1 * ldc + 2 * L))
          .intoArray(c, ci + 1 * ldc + 2 * L);
      c20.fma(av, FloatVector.fromArray(S, c, ci + 2 * ldc)).intoArray(c, ci + 2 * ldc);
      c21.fma(av, FloatVector.fromArray(S, c, ci + 2 * ldc + L)).intoArray(c, ci + 2 * ldc + L);
      c22.fma(av, FloatVector.fromArray(S, c, ci + 2 * ldc + 2 * L))
          .intoArray(c, ci + 2 * ldc + 2 * L);
      c30.fma(av, FloatVector.fromArray(S, c, ci + 3 * ldc)).intoArray(c, ci + 3 * ldc);
      c31.fma(av, FloatVector.fromArray(S, c, ci + 3 * ldc + L)).intoArray(c, ci + 3 * ldc + L);
      c32.fma(av, FloatVector.fromArray(S, c, ci + 3 * ldc + 2 * L))
          .intoArray(c, ci + 3 * ldc + 2 * L);
      c40.fma(av, FloatVector.fromArray(S, c, ci + 4 * ldc)).intoArray(c, ci + 4 * ldc);
      c41.fma(av, FloatVector.fromArray(S, c, ci + 4 * ldc + L)).intoArray(c, ci + 4 * ldc + L);
      c42.fma(av, FloatVector.fromArray(S, c, ci + 4 * ldc + 2 * L))
          .intoArray(c, ci + 4 * ldc + 2 * L);
      c50.fma(av, FloatVector.fromArray(S, c, ci + 5 * ldc)).intoArray(c, ci + 5 * ldc);
      c51.fma(av, FloatVector.fromArray(S, c, ci + 5 * ldc + L)).intoArray(c, ci + 5 * ldc + L);
      c52.fma(av, FloatVector.fromArray(S, c, ci + 5 * ldc + 2 * L))
          .intoArray(c, ci + 5 * ldc + 2 * L);
      c60.fma(av, FloatVector.fromArray(S, c, ci + 6 * ldc)).intoArray(c, ci + 6 * ldc);
      c61.fma(av, FloatVector.fromArray(S, c, ci + 6 * ldc + L)).intoArray(c, ci + 6 * ldc + L);
      c62.fma(av, FloatVector.fromArray(S, c, ci + 6 * ldc + 2 * L))
          .intoArray(c, ci + 6 * ldc + 2 * L);
      c70.fma(av, FloatVector.fromArray(S, c, ci + 7 * ldc)).intoArray(c, ci + 7 * ldc);
      c71.fma(av, FloatVector.fromArray(S, c, ci + 7 * ldc + L)).intoArray(c, ci + 7 * ldc + L);
      c72.fma(av, FloatVector.fromArray(S, c, ci + 7 * ldc + 2 * L))
          .intoArray(c, ci + 7 * ldc + 2 * L);
      return;
    }
    // An edge tile: park it in a scratch tile, then add only the part inside C.
    float[] t = TILE.get();
    c00.intoArray(t, 0);
    c01.intoArray(t, 1 * L);
    c02.intoArray(t, 2 * L);
    c10.intoArray(t, 3 * L);
    c11.intoArray(t, 4 * L);
    c12.intoArray(t, 5 * L);
    c20.intoArray(t, 6 * L);
    c21.intoArray(t, 7 * L);
    c22.intoArray(t, 8 * L);
    c30.intoArray(t, 9 * L);
    c31.intoArray(t, 10 * L);
    c32.intoArray(t, 11 * L);
    c40.intoArray(t, 12 * L);
    c41.intoArray(t, 13 * L);
    c42.intoArray(t, 14 * L);
    c50.intoArray(t, 15 * L);
    c51.intoArray(t, 16 * L);
    c52.intoArray(t, 17 * L);
    c60.intoArray(t, 18 * L);
    c61.intoArray(t, 19 * L);
    c62.intoArray(t, 20 * L);
    c70.intoArray(t, 21 * L);
    c71.intoArray(t, 22 * L);
    c72.intoArray(t, 23 * L);
    addEdge(t, alpha, c, ci, ldc, rows, cols);
  }

  /**
   * The first vector of a panel: {@code C[rows, cols] += alpha · sliver · panel}, cols ≤ L. Written
   * out like {@link #kernel}, for the same reason (no vector may cross a call C2 does not inline).
   */
  private static void kernel1(
      float[] ap,
      int pa,
      float[] bp,
      int pb,
      int k,
      float alpha,
      float[] c,
      int ci,
      int ldc,
      int rows,
      int cols) {
    FloatVector c00 = FloatVector.zero(S);
    FloatVector c10 = c00;
    FloatVector c20 = c00;
    FloatVector c30 = c00;
    FloatVector c40 = c00;
    FloatVector c50 = c00;
    FloatVector c60 = c00;
    FloatVector c70 = c00;
    for (int p = 0; p < k; p++, pa += MR, pb += NR) {
      FloatVector b0 = FloatVector.fromArray(S, bp, pb);
      FloatVector v = FloatVector.broadcast(S, ap[pa]);
      c00 = v.fma(b0, c00);
      v = FloatVector.broadcast(S, ap[pa + 1]);
      c10 = v.fma(b0, c10);
      v = FloatVector.broadcast(S, ap[pa + 2]);
      c20 = v.fma(b0, c20);
      v = FloatVector.broadcast(S, ap[pa + 3]);
      c30 = v.fma(b0, c30);
      v = FloatVector.broadcast(S, ap[pa + 4]);
      c40 = v.fma(b0, c40);
      v = FloatVector.broadcast(S, ap[pa + 5]);
      c50 = v.fma(b0, c50);
      v = FloatVector.broadcast(S, ap[pa + 6]);
      c60 = v.fma(b0, c60);
      v = FloatVector.broadcast(S, ap[pa + 7]);
      c70 = v.fma(b0, c70);
    }
    if (rows == MR && cols == L) {
      FloatVector av = FloatVector.broadcast(S, alpha);
      c00.fma(av, FloatVector.fromArray(S, c, ci)).intoArray(c, ci);
      c10.fma(av, FloatVector.fromArray(S, c, ci + 1 * ldc)).intoArray(c, ci + 1 * ldc);
      c20.fma(av, FloatVector.fromArray(S, c, ci + 2 * ldc)).intoArray(c, ci + 2 * ldc);
      c30.fma(av, FloatVector.fromArray(S, c, ci + 3 * ldc)).intoArray(c, ci + 3 * ldc);
      c40.fma(av, FloatVector.fromArray(S, c, ci + 4 * ldc)).intoArray(c, ci + 4 * ldc);
      c50.fma(av, FloatVector.fromArray(S, c, ci + 5 * ldc)).intoArray(c, ci + 5 * ldc);
      c60.fma(av, FloatVector.fromArray(S, c, ci + 6 * ldc)).intoArray(c, ci + 6 * ldc);
      c70.fma(av, FloatVector.fromArray(S, c, ci + 7 * ldc)).intoArray(c, ci + 7 * ldc);
      return;
    }
    float[] t = TILE.get();
    c00.intoArray(t, 0);
    c10.intoArray(t, 3 * L);
    c20.intoArray(t, 6 * L);
    c30.intoArray(t, 9 * L);
    c40.intoArray(t, 12 * L);
    c50.intoArray(t, 15 * L);
    c60.intoArray(t, 18 * L);
    c70.intoArray(t, 21 * L);
    addEdge(t, alpha, c, ci, ldc, rows, cols);
  }

  /**
   * The first two vectors of a panel: {@code C[rows, cols] += alpha · sliver · panel}, cols ≤ 2L.
   * Written out like {@link #kernel}.
   */
  private static void kernel2(
      float[] ap,
      int pa,
      float[] bp,
      int pb,
      int k,
      float alpha,
      float[] c,
      int ci,
      int ldc,
      int rows,
      int cols) {
    FloatVector c00 = FloatVector.zero(S);
    FloatVector c01 = c00;
    FloatVector c10 = c00;
    FloatVector c11 = c00;
    FloatVector c20 = c00;
    FloatVector c21 = c00;
    FloatVector c30 = c00;
    FloatVector c31 = c00;
    FloatVector c40 = c00;
    FloatVector c41 = c00;
    FloatVector c50 = c00;
    FloatVector c51 = c00;
    FloatVector c60 = c00;
    FloatVector c61 = c00;
    FloatVector c70 = c00;
    FloatVector c71 = c00;
    for (int p = 0; p < k; p++, pa += MR, pb += NR) {
      FloatVector b0 = FloatVector.fromArray(S, bp, pb);
      FloatVector b1 = FloatVector.fromArray(S, bp, pb + L);
      FloatVector v = FloatVector.broadcast(S, ap[pa]);
      c00 = v.fma(b0, c00);
      c01 = v.fma(b1, c01);
      v = FloatVector.broadcast(S, ap[pa + 1]);
      c10 = v.fma(b0, c10);
      c11 = v.fma(b1, c11);
      v = FloatVector.broadcast(S, ap[pa + 2]);
      c20 = v.fma(b0, c20);
      c21 = v.fma(b1, c21);
      v = FloatVector.broadcast(S, ap[pa + 3]);
      c30 = v.fma(b0, c30);
      c31 = v.fma(b1, c31);
      v = FloatVector.broadcast(S, ap[pa + 4]);
      c40 = v.fma(b0, c40);
      c41 = v.fma(b1, c41);
      v = FloatVector.broadcast(S, ap[pa + 5]);
      c50 = v.fma(b0, c50);
      c51 = v.fma(b1, c51);
      v = FloatVector.broadcast(S, ap[pa + 6]);
      c60 = v.fma(b0, c60);
      c61 = v.fma(b1, c61);
      v = FloatVector.broadcast(S, ap[pa + 7]);
      c70 = v.fma(b0, c70);
      c71 = v.fma(b1, c71);
    }
    if (rows == MR && cols == 2 * L) {
      FloatVector av = FloatVector.broadcast(S, alpha);
      c00.fma(av, FloatVector.fromArray(S, c, ci)).intoArray(c, ci);
      c01.fma(av, FloatVector.fromArray(S, c, ci + L)).intoArray(c, ci + L);
      c10.fma(av, FloatVector.fromArray(S, c, ci + 1 * ldc)).intoArray(c, ci + 1 * ldc);
      c11.fma(av, FloatVector.fromArray(S, c, ci + 1 * ldc + L)).intoArray(c, ci + 1 * ldc + L);
      c20.fma(av, FloatVector.fromArray(S, c, ci + 2 * ldc)).intoArray(c, ci + 2 * ldc);
      c21.fma(av, FloatVector.fromArray(S, c, ci + 2 * ldc + L)).intoArray(c, ci + 2 * ldc + L);
      c30.fma(av, FloatVector.fromArray(S, c, ci + 3 * ldc)).intoArray(c, ci + 3 * ldc);
      c31.fma(av, FloatVector.fromArray(S, c, ci + 3 * ldc + L)).intoArray(c, ci + 3 * ldc + L);
      c40.fma(av, FloatVector.fromArray(S, c, ci + 4 * ldc)).intoArray(c, ci + 4 * ldc);
      c41.fma(av, FloatVector.fromArray(S, c, ci + 4 * ldc + L)).intoArray(c, ci + 4 * ldc + L);
      c50.fma(av, FloatVector.fromArray(S, c, ci + 5 * ldc)).intoArray(c, ci + 5 * ldc);
      c51.fma(av, FloatVector.fromArray(S, c, ci + 5 * ldc + L)).intoArray(c, ci + 5 * ldc + L);
      c60.fma(av, FloatVector.fromArray(S, c, ci + 6 * ldc)).intoArray(c, ci + 6 * ldc);
      c61.fma(av, FloatVector.fromArray(S, c, ci + 6 * ldc + L)).intoArray(c, ci + 6 * ldc + L);
      c70.fma(av, FloatVector.fromArray(S, c, ci + 7 * ldc)).intoArray(c, ci + 7 * ldc);
      c71.fma(av, FloatVector.fromArray(S, c, ci + 7 * ldc + L)).intoArray(c, ci + 7 * ldc + L);
      return;
    }
    float[] t = TILE.get();
    c00.intoArray(t, 0);
    c01.intoArray(t, 1 * L);
    c10.intoArray(t, 3 * L);
    c11.intoArray(t, 4 * L);
    c20.intoArray(t, 6 * L);
    c21.intoArray(t, 7 * L);
    c30.intoArray(t, 9 * L);
    c31.intoArray(t, 10 * L);
    c40.intoArray(t, 12 * L);
    c41.intoArray(t, 13 * L);
    c50.intoArray(t, 15 * L);
    c51.intoArray(t, 16 * L);
    c60.intoArray(t, 18 * L);
    c61.intoArray(t, 19 * L);
    c70.intoArray(t, 21 * L);
    c71.intoArray(t, 22 * L);
    addEdge(t, alpha, c, ci, ldc, rows, cols);
  }

  private static final ThreadLocal<int[]> PAIRS = ThreadLocal.withInitial(() -> new int[L]);

  private static final ThreadLocal<int[]> GATHER = ThreadLocal.withInitial(() -> new int[NR]);

  private static final ThreadLocal<float[]> TILE =
      ThreadLocal.withInitial(() -> new float[MR * NR]);

  private static void addEdge(
      float[] t, float alpha, float[] c, int ci, int ldc, int rows, int cols) {
    for (int r = 0; r < rows; r++) {
      for (int q = 0; q < cols; q++) {
        c[ci + r * ldc + q] += alpha * t[r * NR + q];
      }
    }
  }

  /** {@code c[off .. off+count) *= beta}, or zeroed when beta is 0 (so NaNs do not survive). */
  private static void scale(float[] c, int off, int count, float beta) {
    if (beta == 1f) {
      return;
    }
    if (beta == 0f) {
      java.util.Arrays.fill(c, off, off + count, 0f);
      return;
    }
    for (int i = off; i < off + count; i++) {
      c[i] *= beta;
    }
  }
}

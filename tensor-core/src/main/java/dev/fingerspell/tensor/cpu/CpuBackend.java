package dev.fingerspell.tensor.cpu;

import static dev.fingerspell.tensor.cpu.CpuStorage.f;
import static dev.fingerspell.tensor.cpu.CpuStorage.l;
import static dev.fingerspell.tensor.cpu.CpuStorage.off;

import dev.fingerspell.tensor.Backend;
import dev.fingerspell.tensor.ConvGeometry;
import dev.fingerspell.tensor.DType;
import dev.fingerspell.tensor.Device;
import dev.fingerspell.tensor.Shape;
import dev.fingerspell.tensor.Storage;
import dev.fingerspell.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The pure-Java backend: the reference every other backend is checked against. Storage is a Java
 * array; the heavy kernels live beside this class ({@link CpuGemm}, {@link CpuConv}, {@link
 * CpuNorm}, {@link CpuPool}) and use every core through {@link Parallel}. Kernels run
 * synchronously. A plug-in backend that computes some ops with another library on the same host
 * arrays (nd4j-backend) extends it and overrides those.
 */
public class CpuBackend implements Backend {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int GRAIN = 1 << 14;

  /** For {@link java.util.ServiceLoader}. */
  public CpuBackend() {}

  @Override
  public String name() {
    return "cpu";
  }

  @Override
  public Device.Type deviceType() {
    return Device.Type.CPU;
  }

  @Override
  public boolean isAvailable() {
    return true;
  }

  /**
   * 0; -20 where this JVM does not compile the Vector API, below the ND4J fallback (-10), so that
   * {@code auto} takes that where it is installed: its native convolutions are then 6–54× faster.
   */
  @Override
  public int priority() {
    return VectorCompilation.missing().isEmpty() ? 0 : -20;
  }

  @Override
  public String describe() {
    String missing = VectorCompilation.missing();
    return missing.isEmpty()
        ? "the Vector API at " + S.vectorBitSize() + " bits, " + Parallel.threads() + " threads"
        : "slow here, the Vector API is not compiled to SIMD: "
            + missing
            + "; a forward runs 14–290× slower";
  }

  /**
   * The array behind a float32 tensor of this backend, for subclasses; the tensor's first element
   * is at {@link Tensor#offset()}.
   */
  protected static float[] hostArray(Tensor t) {
    return f(t);
  }

  // ---- memory -------------------------------------------------------------------------------

  @Override
  public Storage allocate(Device device, DType dtype, long numel) {
    return CpuStorage.allocate(dtype, numel);
  }

  @Override
  public Storage upload(Device device, float[] data) {
    return new CpuStorage(data.clone());
  }

  @Override
  public Storage upload(Device device, long[] data) {
    return new CpuStorage(data.clone());
  }

  @Override
  public void download(Storage src, long offset, float[] dst, int dstOffset, int count) {
    System.arraycopy(((CpuStorage) src).floats, (int) offset, dst, dstOffset, count);
  }

  @Override
  public void download(Storage src, long offset, long[] dst, int dstOffset, int count) {
    System.arraycopy(((CpuStorage) src).longs, (int) offset, dst, dstOffset, count);
  }

  @Override
  public void copy(Tensor src, Tensor dst) {
    int n = Math.toIntExact(src.numel());
    if (src.dtype() == DType.INT64) {
      System.arraycopy(l(src), off(src), l(dst), off(dst), n);
    } else {
      System.arraycopy(f(src), off(src), f(dst), off(dst), n);
    }
  }

  @Override
  public void synchronize() {
    // kernels run synchronously
  }

  @Override
  public void gatherRows(Tensor src, int[] rows, Tensor dst) {
    int width = src.shape()[0] == 0 ? 0 : (int) (src.numel() / src.shape()[0]);
    float[] s = f(src);
    float[] d = f(dst);
    for (int i = 0; i < rows.length; i++) {
      System.arraycopy(s, off(src) + rows[i] * width, d, off(dst) + i * width, width);
    }
  }

  @Override
  public void normalizeImages(MemorySegment bytes, float[] mean, float[] std, Tensor out) {
    Backend.requireImageBytes(bytes, out);
    int[] shape = out.shape();
    int n = shape[0];
    int per = (int) (out.numel() / n);
    int[] one = shape.clone();
    one[0] = 1;
    float[] x = f(out);
    int o = off(out);
    // straight into the output, an image per task
    Parallel.forRange(
        n,
        1,
        (lo, hi) -> {
          for (int i = lo; i < hi; i++) {
            Backend.normalizeOnHost(
                bytes.asSlice((long) i * per, per), mean, std, one, x, o + i * per);
          }
        });
  }

  // ---- element-wise ---------------------------------------------------------------------------

  @Override
  public void fill(Tensor x, float value) {
    int o = off(x);
    java.util.Arrays.fill(f(x), o, o + (int) x.numel(), value);
  }

  @Override
  public void axpby(float alpha, Tensor x, float beta, Tensor y) {
    float[] xs = f(x);
    float[] ys = f(y);
    int xo = off(x);
    int yo = off(y);
    int n = (int) y.numel();
    Parallel.forRange(
        n,
        GRAIN,
        (lo, hi) -> {
          int i = lo;
          if (beta == 0f) {
            for (; i + S.length() <= hi; i += S.length()) {
              FloatVector.fromArray(S, xs, xo + i).mul(alpha).intoArray(ys, yo + i);
            }
            for (; i < hi; i++) {
              ys[yo + i] = alpha * xs[xo + i];
            }
          } else {
            for (; i + S.length() <= hi; i += S.length()) {
              FloatVector.fromArray(S, xs, xo + i)
                  .mul(alpha)
                  .add(FloatVector.fromArray(S, ys, yo + i).mul(beta))
                  .intoArray(ys, yo + i);
            }
            for (; i < hi; i++) {
              ys[yo + i] = alpha * xs[xo + i] + beta * ys[yo + i];
            }
          }
        });
  }

  @Override
  public void addBroadcast(Tensor a, long[] aStrides, Tensor b, long[] bStrides, Tensor out) {
    float[] as = f(a);
    float[] bs = f(b);
    float[] os = f(out);
    int ao = off(a);
    int bo = off(b);
    int oo = off(out);
    int[] shape = out.shape();
    int n = (int) out.numel();
    if (n == 0) {
      return;
    }
    long[] own = Shape.strides(shape);
    if (Arrays.equals(aStrides, own) && Arrays.equals(bStrides, own)) {
      // Same shapes (a residual sum): one run, without the per-row index arithmetic below (layer1's
      // at batch 32: 3.0 -> 1.5 ms).
      Parallel.forRange(
          n,
          GRAIN,
          (lo, hi) -> {
            int i = lo;
            for (; i + S.length() <= hi; i += S.length()) {
              FloatVector.fromArray(S, as, ao + i)
                  .add(FloatVector.fromArray(S, bs, bo + i))
                  .intoArray(os, oo + i);
            }
            for (; i < hi; i++) {
              os[oo + i] = as[ao + i] + bs[bo + i];
            }
          });
      return;
    }
    // Split off the innermost dimension, which runs contiguous (stride 1) or stretched (0).
    int rank = shape.length;
    int inner = rank == 0 ? 1 : shape[rank - 1];
    long aInner = rank == 0 ? 0 : aStrides[rank - 1];
    long bInner = rank == 0 ? 0 : bStrides[rank - 1];
    int rows = n / inner;
    Parallel.forRange(
        rows,
        Math.max(1, GRAIN / Math.max(1, inner)),
        (lo, hi) -> {
          for (int r = lo; r < hi; r++) {
            long ai = ao;
            long bi = bo;
            int rest = r;
            for (int d = rank - 2; d >= 0; d--) {
              int idx = rest % shape[d];
              rest /= shape[d];
              ai += idx * aStrides[d];
              bi += idx * bStrides[d];
            }
            int o = oo + r * inner;
            int a0 = (int) ai;
            int b0 = (int) bi;
            if (aInner == 1 && bInner == 1) {
              // the common cases in plain loops C2 vectorises: a residual sum (same shapes) ...
              for (int j = 0; j < inner; j++) {
                os[o + j] = as[a0 + j] + bs[b0 + j];
              }
            } else if (aInner == 1 && bInner == 0) {
              // ... and a value added along the row (a bias over the last dimension)
              float bv = bs[b0];
              for (int j = 0; j < inner; j++) {
                os[o + j] = as[a0 + j] + bv;
              }
            } else {
              for (int j = 0; j < inner; j++) {
                os[o + j] = as[(int) (ai + j * aInner)] + bs[(int) (bi + j * bInner)];
              }
            }
          }
        });
  }

  @Override
  public void sumToBroadcast(Tensor grad, long[] outStrides, Tensor out) {
    float[] gs = f(grad);
    float[] os = f(out);
    int go = off(grad);
    int oo = off(out);
    int[] shape = grad.shape();
    int n = (int) grad.numel();
    if (shape.length == 2 && outStrides[0] == 0 && outStrides[1] == 1) {
      // A bias gradient: the column sums of a [rows, cols] matrix.
      int cols = shape[1];
      double[] acc = new double[cols];
      for (int r = 0; r < shape[0]; r++) {
        for (int j = 0; j < cols; j++) {
          acc[j] += gs[go + r * cols + j];
        }
      }
      for (int j = 0; j < cols; j++) {
        os[oo + j] = (float) acc[j];
      }
      return;
    }
    double[] acc = new double[(int) out.numel()];
    for (int i = 0; i < n; i++) { // serial: the scatter target is shared
      int rest = i;
      long o = 0;
      for (int d = shape.length - 1; d >= 0; d--) {
        int idx = rest % shape[d];
        rest /= shape[d];
        o += idx * outStrides[d];
      }
      acc[(int) o] += gs[go + i];
    }
    for (int i = 0; i < acc.length; i++) {
      os[oo + i] = (float) acc[i];
    }
  }

  @Override
  public void relu(Tensor x, Tensor y) {
    float[] xs = f(x);
    float[] ys = f(y);
    int xo = off(x);
    int yo = off(y);
    Parallel.forRange(
        (int) x.numel(),
        GRAIN,
        (lo, hi) -> {
          int i = lo;
          for (; i + S.length() <= hi; i += S.length()) {
            FloatVector.fromArray(S, xs, xo + i).max(0f).intoArray(ys, yo + i);
          }
          for (; i < hi; i++) {
            ys[yo + i] = Math.max(xs[xo + i], 0f);
          }
        });
  }

  @Override
  public void reluBackward(Tensor y, Tensor dy, Tensor dx) {
    float[] ys = f(y);
    float[] gs = f(dy);
    float[] ds = f(dx);
    int yo = off(y);
    int go = off(dy);
    int dO = off(dx);
    Parallel.forRange(
        (int) y.numel(),
        GRAIN,
        (lo, hi) -> {
          FloatVector zero = FloatVector.zero(S);
          int i = lo;
          for (; i + S.length() <= hi; i += S.length()) {
            FloatVector g = FloatVector.fromArray(S, gs, go + i);
            zero.blend(g, FloatVector.fromArray(S, ys, yo + i).compare(VectorOperators.GT, 0f))
                .intoArray(ds, dO + i);
          }
          for (; i < hi; i++) {
            ds[dO + i] = ys[yo + i] > 0f ? gs[go + i] : 0f;
          }
        });
  }

  @Override
  public void sum(Tensor x, Tensor out) {
    float[] xs = f(x);
    int xo = off(x);
    double s = 0;
    for (int i = 0, n = (int) x.numel(); i < n; i++) {
      s += xs[xo + i];
    }
    f(out)[off(out)] = (float) s;
  }

  // ---- matrix product ------------------------------------------------------------------------

  @Override
  public void gemm(
      boolean transA,
      boolean transB,
      int m,
      int n,
      int k,
      float alpha,
      Tensor a,
      Tensor b,
      float beta,
      Tensor c) {
    CpuGemm.gemm(
        transA, transB, m, n, k, alpha, f(a), off(a), f(b), off(b), beta, f(c), off(c), true);
  }

  // ---- convolution ---------------------------------------------------------------------------

  @Override
  public void conv2dForward(ConvGeometry g, Tensor x, Tensor w, Tensor bias, Tensor y) {
    if (CpuWinograd.pays(g)) {
      // weights change at every step: transformed at every call, never cached
      CpuWinograd.forward(
          g,
          f(x),
          off(x),
          CpuWinograd.transformWeights(g, f(w), off(w)),
          new CpuConv.Epilogue(
              bias == null ? null : f(bias), bias == null ? 0 : off(bias), null, 0, false),
          f(y),
          off(y));
      return;
    }
    CpuConv.forward(
        g,
        f(x),
        off(x),
        f(w),
        off(w),
        bias == null ? null : f(bias),
        bias == null ? 0 : off(bias),
        f(y),
        off(y));
  }

  /**
   * Weights of {@link #conv2dBiasActivation} prepared for the GEMM, per weight tensor: packed as A
   * (channel-major product), transposed and packed as B (pixel-major), or Winograd-transformed and
   * packed. A weight used at two batch sizes may have two of these. A constant network prepares
   * each of its weights once, not once per batch (for batch 1, packing cost as much as the
   * convolution). Weakly keyed, so an unreachable network takes its copies along.
   */
  private final java.util.Map<Tensor, float[]> packedWeights =
      java.util.Collections.synchronizedMap(new java.util.WeakHashMap<>());

  private final java.util.Map<Tensor, float[]> pixelMajorWeights =
      java.util.Collections.synchronizedMap(new java.util.WeakHashMap<>());

  private final java.util.Map<Tensor, float[][]> winogradWeights =
      java.util.Collections.synchronizedMap(new java.util.WeakHashMap<>());

  private final java.util.Map<Tensor, float[][]> tileMajorWinogradWeights =
      java.util.Collections.synchronizedMap(new java.util.WeakHashMap<>());

  @Override
  public void conv2dBiasActivation(
      ConvGeometry g, Tensor x, Tensor w, Tensor bias, Tensor residual, boolean relu, Tensor y) {
    CpuConv.Epilogue ep =
        new CpuConv.Epilogue(
            bias == null ? null : f(bias),
            bias == null ? 0 : off(bias),
            residual == null ? null : f(residual),
            residual == null ? 0 : off(residual),
            relu);
    // Winograd over more than one GEMM panel of 4×4 tiles; fewer tiles (layer3 at batch 1 has 16)
    // are the rows of the product instead, and fewer than two slivers of them (layer4 at batch 1
    // has 4) stay direct: Winograd's weights are 4× larger, and read for too few tiles.
    if (CpuWinograd.pays(g)) {
      float[][] u =
          winogradWeights.computeIfAbsent(w, t -> CpuWinograd.transformWeights(g, f(t), off(t)));
      CpuWinograd.forward(g, f(x), off(x), u, ep, f(y), off(y));
      return;
    }
    if (CpuWinograd.tileMajor(g)) {
      float[][] u =
          tileMajorWinogradWeights.computeIfAbsent(
              w, t -> CpuWinograd.transformWeightsTileMajor(g, f(t), off(t)));
      CpuWinograd.forwardTileMajor(g, f(x), off(x), u, ep, f(y), off(y));
      return;
    }
    if (CpuConv.pixelMajorPays(g)) {
      float[] wt =
          pixelMajorWeights.computeIfAbsent(w, t -> CpuConv.packPixelMajor(g, f(t), off(t)));
      CpuConv.forwardPixelMajor(g, f(x), off(x), wt, ep, f(y), off(y));
      return;
    }
    int ckk = g.inChannels() * g.kernelH() * g.kernelW();
    float[] packed =
        packedWeights.computeIfAbsent(
            w,
            t ->
                CpuGemm.packA(
                    false, g.outChannels(), ckk, f(t), off(t), new float[CpuConv.packedSize(g)]));
    CpuConv.forward(g, f(x), off(x), packed, ep, f(y), off(y));
  }

  @Override
  public void conv2dBackwardData(ConvGeometry g, Tensor dy, Tensor w, Tensor dx) {
    if (CpuWinograd.pays(g)) {
      CpuWinograd.backwardData(g, f(dy), off(dy), f(w), off(w), f(dx), off(dx));
      return;
    }
    CpuConv.backwardData(g, f(dy), off(dy), f(w), off(w), f(dx), off(dx));
  }

  @Override
  public void conv2dBackwardFilter(ConvGeometry g, Tensor x, Tensor dy, Tensor dw, Tensor dbias) {
    if (CpuWinograd.pays(g)) {
      CpuWinograd.backwardFilter(g, f(x), off(x), f(dy), off(dy), f(dw), off(dw));
      if (dbias != null) {
        CpuConv.biasGradient(g, f(dy), off(dy), f(dbias), off(dbias));
      }
      return;
    }
    CpuConv.backwardFilter(
        g,
        f(x),
        off(x),
        f(dy),
        off(dy),
        f(dw),
        off(dw),
        dbias == null ? null : f(dbias),
        dbias == null ? 0 : off(dbias));
  }

  // ---- batch normalisation -------------------------------------------------------------------

  @Override
  public void batchNormForwardTraining(
      int n,
      int c,
      int hw,
      Tensor x,
      Tensor weight,
      Tensor bias,
      Tensor runningMean,
      Tensor runningVar,
      float momentum,
      float eps,
      Tensor y,
      Tensor saveMean,
      Tensor saveInvStd) {
    CpuNorm.forwardTraining(
        n,
        c,
        hw,
        f(x),
        off(x),
        f(weight),
        off(weight),
        f(bias),
        off(bias),
        runningMean == null ? null : f(runningMean),
        runningMean == null ? 0 : off(runningMean),
        runningVar == null ? null : f(runningVar),
        runningVar == null ? 0 : off(runningVar),
        momentum,
        eps,
        f(y),
        off(y),
        f(saveMean),
        off(saveMean),
        f(saveInvStd),
        off(saveInvStd));
  }

  @Override
  public void batchNormForwardInference(
      int n,
      int c,
      int hw,
      Tensor x,
      Tensor weight,
      Tensor bias,
      Tensor mean,
      Tensor var,
      float eps,
      Tensor y) {
    CpuNorm.forwardInference(
        n,
        c,
        hw,
        f(x),
        off(x),
        f(weight),
        off(weight),
        f(bias),
        off(bias),
        f(mean),
        off(mean),
        f(var),
        off(var),
        eps,
        f(y),
        off(y));
  }

  @Override
  public void batchNormBackwardTraining(
      int n,
      int c,
      int hw,
      Tensor x,
      Tensor dy,
      Tensor weight,
      Tensor saveMean,
      Tensor saveInvStd,
      Tensor dx,
      Tensor dweight,
      Tensor dbias) {
    CpuNorm.backward(
        true,
        n,
        c,
        hw,
        f(x),
        off(x),
        f(dy),
        off(dy),
        f(weight),
        off(weight),
        f(saveMean),
        off(saveMean),
        f(saveInvStd),
        off(saveInvStd),
        dx == null ? null : f(dx),
        dx == null ? 0 : off(dx),
        dweight == null ? null : f(dweight),
        dweight == null ? 0 : off(dweight),
        dbias == null ? null : f(dbias),
        dbias == null ? 0 : off(dbias));
  }

  @Override
  public void batchNormBackwardInference(
      int n,
      int c,
      int hw,
      Tensor x,
      Tensor dy,
      Tensor weight,
      Tensor mean,
      Tensor var,
      float eps,
      Tensor dx,
      Tensor dweight,
      Tensor dbias) {
    float[] vs = f(var);
    float[] invStd = new float[c];
    for (int ch = 0; ch < c; ch++) {
      invStd[ch] = (float) (1.0 / Math.sqrt(vs[off(var) + ch] + (double) eps));
    }
    CpuNorm.backward(
        false,
        n,
        c,
        hw,
        f(x),
        off(x),
        f(dy),
        off(dy),
        f(weight),
        off(weight),
        f(mean),
        off(mean),
        invStd,
        0,
        dx == null ? null : f(dx),
        dx == null ? 0 : off(dx),
        dweight == null ? null : f(dweight),
        dweight == null ? 0 : off(dweight),
        dbias == null ? null : f(dbias),
        dbias == null ? 0 : off(dbias));
  }

  // ---- pooling -------------------------------------------------------------------------------

  @Override
  public void maxPool2dForward(ConvGeometry g, Tensor x, Tensor y) {
    CpuPool.maxForward(g, f(x), off(x), f(y), off(y));
  }

  @Override
  public void maxPool2dBackward(ConvGeometry g, Tensor x, Tensor y, Tensor dy, Tensor dx) {
    CpuPool.maxBackward(g, f(x), off(x), f(y), off(y), f(dy), off(dy), f(dx), off(dx));
  }

  @Override
  public void globalAvgPoolForward(int nc, int hw, Tensor x, Tensor y) {
    CpuPool.avgForward(nc, hw, f(x), off(x), f(y), off(y));
  }

  @Override
  public void globalAvgPoolBackward(int nc, int hw, Tensor dy, Tensor dx) {
    CpuPool.avgBackward(nc, hw, f(dy), off(dy), f(dx), off(dx));
  }

  // ---- softmax and losses -----------------------------------------------------------------------

  @Override
  public void softmax(int rows, int cols, Tensor x, Tensor y) {
    softmaxRows(rows, cols, f(x), off(x), f(y), off(y), false);
  }

  @Override
  public void logSoftmax(int rows, int cols, Tensor x, Tensor y) {
    softmaxRows(rows, cols, f(x), off(x), f(y), off(y), true);
  }

  /**
   * Row-wise (log-)softmax. The exponentials run as {@link VectorMath#exp} (within an ulp of {@link
   * Math#exp}, the same bits whether compiled or not) in float; the row sum is taken in double. At
   * a classifier's width (29) the scalar double {@code Math.exp} used to cost more than the head's
   * GEMM.
   */
  private static void softmaxRows(
      int rows, int cols, float[] x, int xo, float[] y, int yo, boolean log) {
    Parallel.forRange(
        rows,
        Math.max(1, GRAIN / Math.max(1, cols)),
        (lo, hi) -> {
          for (int r = lo; r < hi; r++) {
            int base = r * cols;
            float max = Float.NEGATIVE_INFINITY;
            for (int j = 0; j < cols; j += S.length()) {
              VectorMask<Float> m = S.indexInRange(j, cols);
              max =
                  Math.max(
                      max,
                      FloatVector.fromArray(S, x, xo + base + j, m)
                          .reduceLanes(VectorOperators.MAX, m));
            }
            FloatVector shift = FloatVector.broadcast(S, -max);
            double sum = 0;
            for (int j = 0; j < cols; j += S.length()) {
              VectorMask<Float> m = S.indexInRange(j, cols);
              FloatVector e =
                  VectorMath.exp(FloatVector.fromArray(S, x, xo + base + j, m).add(shift));
              sum += VectorMath.sumLanes(e, m);
              if (!log) {
                e.intoArray(y, yo + base + j, m);
              }
            }
            if (log) {
              FloatVector total = FloatVector.broadcast(S, (float) (-max - Math.log(sum)));
              for (int j = 0; j < cols; j += S.length()) {
                VectorMask<Float> m = S.indexInRange(j, cols);
                FloatVector.fromArray(S, x, xo + base + j, m)
                    .add(total)
                    .intoArray(y, yo + base + j, m);
              }
            } else {
              FloatVector inv = FloatVector.broadcast(S, (float) (1.0 / sum));
              for (int j = 0; j < cols; j += S.length()) {
                VectorMask<Float> m = S.indexInRange(j, cols);
                FloatVector.fromArray(S, y, yo + base + j, m)
                    .mul(inv)
                    .intoArray(y, yo + base + j, m);
              }
            }
          }
        });
  }

  @Override
  public void softmaxBackward(int rows, int cols, Tensor y, Tensor dy, Tensor dx) {
    float[] ys = f(y);
    float[] gs = f(dy);
    float[] ds = f(dx);
    int yo = off(y);
    int go = off(dy);
    int dO = off(dx);
    for (int r = 0; r < rows; r++) {
      int base = r * cols;
      double dot = 0;
      for (int j = 0; j < cols; j++) {
        dot += (double) gs[go + base + j] * ys[yo + base + j];
      }
      for (int j = 0; j < cols; j++) {
        ds[dO + base + j] = (float) (ys[yo + base + j] * (gs[go + base + j] - dot));
      }
    }
  }

  @Override
  public void logSoftmaxBackward(int rows, int cols, Tensor y, Tensor dy, Tensor dx) {
    float[] ys = f(y);
    float[] gs = f(dy);
    float[] ds = f(dx);
    int yo = off(y);
    int go = off(dy);
    int dO = off(dx);
    for (int r = 0; r < rows; r++) {
      int base = r * cols;
      double sum = 0;
      for (int j = 0; j < cols; j++) {
        sum += gs[go + base + j];
      }
      FloatVector total = FloatVector.broadcast(S, (float) sum);
      for (int j = 0; j < cols; j += S.length()) { // dx = dy − softmax · Σdy, softmax = exp(y)
        VectorMask<Float> m = S.indexInRange(j, cols);
        FloatVector.fromArray(S, gs, go + base + j, m)
            .sub(VectorMath.exp(FloatVector.fromArray(S, ys, yo + base + j, m)).mul(total))
            .intoArray(ds, dO + base + j, m);
      }
    }
  }

  @Override
  public void nllLoss(int rows, int cols, Tensor logp, Tensor labels, float smoothing, Tensor out) {
    float[] lp = f(logp);
    long[] lab = l(labels);
    int lo = off(logp);
    int labo = off(labels);
    double total = 0;
    for (int r = 0; r < rows; r++) {
      int label = checkLabel(lab[labo + r], cols, r);
      int base = lo + r * cols;
      double rowSum = 0;
      for (int j = 0; j < cols; j++) {
        rowSum += lp[base + j];
      }
      total += -(1.0 - smoothing) * lp[base + label] - smoothing / cols * rowSum;
    }
    f(out)[off(out)] = (float) (total / rows);
  }

  @Override
  public void nllLossBackward(
      int rows, int cols, Tensor labels, float smoothing, Tensor gradOut, Tensor dlogp) {
    long[] lab = l(labels);
    int labo = off(labels);
    float[] d = f(dlogp);
    int dO = off(dlogp);
    double g = f(gradOut)[off(gradOut)] / (double) rows;
    float spread = (float) (-g * smoothing / cols);
    float hit = (float) (-g * (1.0 - smoothing) - g * smoothing / cols);
    for (int r = 0; r < rows; r++) {
      int label = checkLabel(lab[labo + r], cols, r);
      java.util.Arrays.fill(d, dO + r * cols, dO + (r + 1) * cols, spread);
      d[dO + r * cols + label] = hit;
    }
  }

  private static int checkLabel(long label, int cols, int row) {
    if (label < 0 || label >= cols) {
      throw new IllegalArgumentException(
          "label " + label + " of row " + row + " is outside [0, " + cols + ")");
    }
    return (int) label;
  }

  // ---- optimizers -----------------------------------------------------------------------------

  @Override
  public void sgdStep(
      Tensor param,
      Tensor grad,
      Tensor momentumBuf,
      float lr,
      float momentum,
      float dampening,
      float weightDecay,
      boolean nesterov,
      boolean firstStep) {
    float[] p = f(param);
    float[] g = f(grad);
    float[] buf = momentumBuf == null ? null : f(momentumBuf);
    int po = off(param);
    int go = off(grad);
    int bo = momentumBuf == null ? 0 : off(momentumBuf);
    Parallel.forRange(
        (int) param.numel(),
        GRAIN,
        (lo, hi) -> {
          for (int i = lo; i < hi; i++) {
            float d = g[go + i];
            if (weightDecay != 0f) {
              d += weightDecay * p[po + i];
            }
            if (momentum != 0f) {
              float b = firstStep ? d : momentum * buf[bo + i] + (1f - dampening) * d;
              buf[bo + i] = b;
              d = nesterov ? d + momentum * b : b;
            }
            p[po + i] -= lr * d;
          }
        });
  }

  @Override
  public void adamwStep(
      Tensor param,
      Tensor grad,
      Tensor expAvg,
      Tensor expAvgSq,
      float lr,
      float beta1,
      float beta2,
      float eps,
      float weightDecay,
      long step) {
    float[] p = f(param);
    float[] g = f(grad);
    float[] m = f(expAvg);
    float[] v = f(expAvgSq);
    int po = off(param);
    int go = off(grad);
    int mo = off(expAvg);
    int vo = off(expAvgSq);
    double bc1 = 1.0 - Math.pow(beta1, step);
    float stepSize = (float) (lr / bc1);
    float bc2Sqrt = (float) Math.sqrt(1.0 - Math.pow(beta2, step));
    float decay = 1f - lr * weightDecay;
    Parallel.forRange(
        (int) param.numel(),
        GRAIN,
        (lo, hi) -> {
          int i = lo;
          FloatVector b1 = FloatVector.broadcast(S, beta1);
          FloatVector b1c = FloatVector.broadcast(S, 1f - beta1);
          FloatVector b2 = FloatVector.broadcast(S, beta2);
          FloatVector b2c = FloatVector.broadcast(S, 1f - beta2);
          for (; i + S.length() <= hi; i += S.length()) {
            FloatVector gi = FloatVector.fromArray(S, g, go + i);
            FloatVector mi = FloatVector.fromArray(S, m, mo + i).mul(b1).add(gi.mul(b1c));
            FloatVector vi = FloatVector.fromArray(S, v, vo + i).mul(b2).add(gi.mul(gi).mul(b2c));
            mi.intoArray(m, mo + i);
            vi.intoArray(v, vo + i);
            FloatVector denom = vi.sqrt().div(bc2Sqrt).add(eps);
            FloatVector.fromArray(S, p, po + i)
                .mul(decay)
                .sub(mi.div(denom).mul(stepSize))
                .intoArray(p, po + i);
          }
          for (; i < hi; i++) {
            float gi = g[go + i];
            float pi = p[po + i] * decay;
            float mi = beta1 * m[mo + i] + (1f - beta1) * gi;
            float vi = beta2 * v[vo + i] + (1f - beta2) * gi * gi;
            m[mo + i] = mi;
            v[vo + i] = vi;
            float denom = (float) Math.sqrt(vi) / bc2Sqrt + eps;
            p[po + i] = pi - stepSize * (mi / denom);
          }
        });
  }
}

package dev.fingerspell.tensor;

import java.util.Arrays;

/**
 * Every differentiable op, each written as its forward and, right below it, its backward (the
 * closure handed to {@link #record}). The arithmetic runs in the tensors' {@link Backend}; this
 * class holds the shape rules and the calculus. Composite ops (linear, mean, cross-entropy) are
 * lowered onto the primitives here rather than given kernels of their own.
 */
public final class Ops {
  private Ops() {}

  // ---- graph recording ----------------------------------------------------------------------

  /** Whether an op on these inputs must record a node: grad mode on and some input requires it. */
  static boolean needsGrad(Tensor... inputs) {
    if (!GradMode.isEnabled()) {
      return false;
    }
    for (Tensor t : inputs) {
      if (t != null && t.requiresGrad()) {
        return true;
      }
    }
    return false;
  }

  /**
   * Attaches {@code backward} to {@code out} when {@link #needsGrad} says so; otherwise the closure
   * is dropped and nothing is kept alive. Returns {@code out}.
   */
  static Tensor record(Tensor out, String opName, Node.BackwardFn backward, Tensor... inputs) {
    if (needsGrad(inputs)) {
      out.attachGradFn(new Node(opName, inputs, backward));
    }
    return out;
  }

  private static void sameDevice(Tensor a, Tensor b) {
    if (!a.device().equals(b.device())) {
      throw new IllegalArgumentException(
          "tensors on different devices: " + a.device() + " and " + b.device());
    }
  }

  private static void requireFloat(String op, Tensor t) {
    if (t.dtype() != DType.FLOAT32) {
      throw new IllegalArgumentException(op + " needs float32, got " + t.dtype());
    }
  }

  private static void requireRank(String op, Tensor t, int rank) {
    if (t.rank() != rank) {
      throw new IllegalArgumentException(
          op + " needs a " + rank + "-d tensor, got shape " + Shape.format(t.shape()));
    }
  }

  // ---- element-wise -------------------------------------------------------------------------

  /** {@code a + b} with NumPy broadcasting (a bias {@code [C]} added to {@code [N, C]}, …). */
  public static Tensor add(Tensor a, Tensor b) {
    requireFloat("add", a);
    requireFloat("add", b);
    sameDevice(a, b);
    int[] outShape = Shape.broadcast(a.shape(), b.shape());
    Tensor out = a.newZeros(outShape);
    a.backend()
        .addBroadcast(
            a,
            Shape.broadcastStrides(a.shape(), outShape),
            b,
            Shape.broadcastStrides(b.shape(), outShape),
            out);
    return record(out, "add", g -> new Tensor[] {unbroadcast(g, a), unbroadcast(g, b)}, a, b);
  }

  /** The gradient of a broadcast operand: {@code g} summed over the stretched dimensions. */
  private static Tensor unbroadcast(Tensor g, Tensor operand) {
    if (!operand.requiresGrad()) {
      return null;
    }
    if (Arrays.equals(g.shape(), operand.shape())) {
      return g;
    }
    Tensor out = g.newZeros(operand.shape());
    g.backend().sumToBroadcast(g, Shape.broadcastStrides(operand.shape(), g.shape()), out);
    return out;
  }

  /** {@code a * scalar}. */
  public static Tensor mul(Tensor a, float scalar) {
    requireFloat("mul", a);
    Tensor out = a.newZeros(a.shape());
    a.backend().axpby(scalar, a, 0f, out);
    return record(out, "mul", g -> new Tensor[] {mul(g, scalar)}, a);
  }

  /** {@code max(x, 0)}. */
  public static Tensor relu(Tensor x) {
    requireFloat("relu", x);
    Tensor y = x.newZeros(x.shape());
    x.backend().relu(x, y);
    return record(
        y,
        "relu",
        g -> {
          Tensor dx = g.newZeros(g.shape());
          g.backend().reluBackward(y, g, dx);
          return new Tensor[] {dx};
        },
        x);
  }

  // ---- reductions ---------------------------------------------------------------------------

  /** The sum of all elements, as a 0-rank tensor. */
  public static Tensor sum(Tensor x) {
    requireFloat("sum", x);
    Tensor out = x.newZeros();
    x.backend().sum(x, out);
    int[] shape = x.shape();
    return record(
        out,
        "sum",
        g -> {
          Tensor dx = g.newZeros(shape);
          // broadcast the scalar gradient over x's shape: 0 + g
          g.backend()
              .addBroadcast(
                  dx, Shape.strides(shape), g, Shape.broadcastStrides(new int[0], shape), dx);
          return new Tensor[] {dx};
        },
        x);
  }

  /** The mean of all elements: {@code sum(x) / numel}. */
  public static Tensor mean(Tensor x) {
    return mul(sum(x), 1f / x.numel());
  }

  // ---- matrix products --------------------------------------------------------------------------

  /** {@code a [M, K] @ b [K, N]}. */
  public static Tensor matmul(Tensor a, Tensor b) {
    requireFloat("matmul", a);
    requireFloat("matmul", b);
    requireRank("matmul", a, 2);
    requireRank("matmul", b, 2);
    sameDevice(a, b);
    int m = a.size(0);
    int k = a.size(1);
    int n = b.size(1);
    if (b.size(0) != k) {
      throw new IllegalArgumentException(
          "matmul: " + Shape.format(a.shape()) + " @ " + Shape.format(b.shape()));
    }
    Tensor out = a.newZeros(m, n);
    a.backend().gemm(false, false, m, n, k, 1f, a, b, 0f, out);
    return record(
        out,
        "matmul",
        g -> {
          Tensor da = null;
          Tensor db = null;
          if (a.requiresGrad()) { // dA = g @ B^T
            da = g.newZeros(m, k);
            g.backend().gemm(false, true, m, k, n, 1f, g, b, 0f, da);
          }
          if (b.requiresGrad()) { // dB = A^T @ g
            db = g.newZeros(k, n);
            g.backend().gemm(true, false, k, n, m, 1f, a, g, 0f, db);
          }
          return new Tensor[] {da, db};
        },
        a,
        b);
  }

  /**
   * {@code x [N, in] @ weight[out, in]^T + bias[out]}, PyTorch's {@code F.linear}; {@code bias} may
   * be null.
   */
  public static Tensor linear(Tensor x, Tensor weight, Tensor bias) {
    requireFloat("linear", x);
    requireRank("linear", x, 2);
    requireRank("linear", weight, 2);
    sameDevice(x, weight);
    int n = x.size(0);
    int in = x.size(1);
    int outF = weight.size(0);
    if (weight.size(1) != in) {
      throw new IllegalArgumentException(
          "linear: input " + Shape.format(x.shape()) + ", weight " + Shape.format(weight.shape()));
    }
    Tensor y = x.newZeros(n, outF);
    x.backend().gemm(false, true, n, outF, in, 1f, x, weight, 0f, y);
    Tensor out =
        record(
            y,
            "linear",
            g -> {
              Tensor dx = null;
              Tensor dw = null;
              if (x.requiresGrad()) { // dx = g @ W
                dx = g.newZeros(n, in);
                g.backend().gemm(false, false, n, in, outF, 1f, g, weight, 0f, dx);
              }
              if (weight.requiresGrad()) { // dW = g^T @ x
                dw = g.newZeros(outF, in);
                g.backend().gemm(true, false, outF, in, n, 1f, g, x, 0f, dw);
              }
              return new Tensor[] {dx, dw};
            },
            x,
            weight);
    return bias == null ? out : add(out, bias);
  }

  // ---- convolution ------------------------------------------------------------------------------

  /** A square-kernel 2-d convolution with equal stride and padding on both axes. */
  public static Tensor conv2d(Tensor x, Tensor weight, Tensor bias, int stride, int padding) {
    return conv2d(x, weight, bias, stride, stride, padding, padding);
  }

  /**
   * {@code x [N, C, H, W]} convolved with {@code weight [OC, C, KH, KW]} (cross-correlation, as
   * PyTorch), plus {@code bias [OC]} when not null.
   */
  public static Tensor conv2d(
      Tensor x, Tensor weight, Tensor bias, int strideH, int strideW, int padH, int padW) {
    requireFloat("conv2d", x);
    requireRank("conv2d", x, 4);
    requireRank("conv2d", weight, 4);
    sameDevice(x, weight);
    if (weight.size(1) != x.size(1)) {
      throw new IllegalArgumentException(
          "conv2d: input has "
              + x.size(1)
              + " channels, weight "
              + Shape.format(weight.shape())
              + " expects "
              + weight.size(1));
    }
    if (bias != null && (bias.rank() != 1 || bias.size(0) != weight.size(0))) {
      throw new IllegalArgumentException(
          "conv2d: bias " + Shape.format(bias.shape()) + " for " + weight.size(0) + " channels");
    }
    ConvGeometry geo = ConvGeometry.of(x, weight, strideH, strideW, padH, padW);
    Tensor y = x.newZeros(geo.outShape());
    x.backend().conv2dForward(geo, x, weight, bias, y);
    return record(
        y,
        "conv2d",
        g -> {
          Tensor dx = x.requiresGrad() ? g.newZeros(x.shape()) : null;
          boolean wantBias = bias != null && bias.requiresGrad();
          // the bias gradient comes with the filter's
          Tensor dw = weight.requiresGrad() || wantBias ? g.newZeros(weight.shape()) : null;
          Tensor db = wantBias ? g.newZeros(bias.shape()) : null;
          g.backend().conv2dBackward(geo, x, g, weight, dx, dw, db);
          return new Tensor[] {dx, weight.requiresGrad() ? dw : null, db};
        },
        x,
        weight,
        bias);
  }

  // ---- batch normalisation ----------------------------------------------------------------------

  /**
   * PyTorch's {@code F.batch_norm} over {@code [N, C, ...]}: in training, batch statistics
   * normalise and {@code runningMean}/{@code runningVar} (if not null) are updated in place with
   * {@code momentum} and the unbiased variance; in evaluation, the running statistics normalise.
   * {@code weight} and {@code bias} are the affine parameters, {@code [C]} each.
   */
  public static Tensor batchNorm(
      Tensor x,
      Tensor weight,
      Tensor bias,
      Tensor runningMean,
      Tensor runningVar,
      boolean training,
      float momentum,
      float eps) {
    requireFloat("batch_norm", x);
    if (x.rank() < 2) {
      throw new IllegalArgumentException("batch_norm needs [N, C, ...], got " + x);
    }
    int n = x.size(0);
    int c = x.size(1);
    int hw = (int) (x.numel() / Math.max(1L, (long) n * c));
    for (Tensor t : new Tensor[] {weight, bias, runningMean, runningVar}) {
      if (t != null && (t.numel() != c)) {
        throw new IllegalArgumentException(
            "batch_norm: per-channel tensor " + t + " does not match " + c + " channels");
      }
    }
    if (weight == null || bias == null) {
      throw new IllegalArgumentException("batch_norm needs affine weight and bias");
    }
    Tensor y = x.newZeros(x.shape());
    Backend be = x.backend();
    if (training) {
      if ((long) n * hw <= 1) {
        throw new IllegalArgumentException(
            "batch_norm in training needs more than one value per channel, got " + x);
      }
      Tensor saveMean = x.newZeros(c);
      Tensor saveInvStd = x.newZeros(c);
      be.batchNormForwardTraining(
          n,
          c,
          hw,
          x,
          weight,
          bias,
          runningMean,
          runningVar,
          momentum,
          eps,
          y,
          saveMean,
          saveInvStd);
      return record(
          y,
          "batch_norm",
          g -> {
            Tensor[] d = bnGrads(g, x, weight, bias);
            g.backend()
                .batchNormBackwardTraining(
                    n, c, hw, x, g, weight, saveMean, saveInvStd, d[0], d[1], d[2]);
            return d;
          },
          x,
          weight,
          bias);
    }
    if (runningMean == null || runningVar == null) {
      throw new IllegalArgumentException("batch_norm in evaluation needs running statistics");
    }
    be.batchNormForwardInference(n, c, hw, x, weight, bias, runningMean, runningVar, eps, y);
    if (!needsGrad(x, weight, bias)) {
      return y;
    }
    Tensor mean = runningMean.copy(); // a later training forward may update the originals
    Tensor var = runningVar.copy();
    return record(
        y,
        "batch_norm",
        g -> {
          Tensor[] d = bnGrads(g, x, weight, bias);
          g.backend()
              .batchNormBackwardInference(n, c, hw, x, g, weight, mean, var, eps, d[0], d[1], d[2]);
          return d;
        },
        x,
        weight,
        bias);
  }

  private static Tensor[] bnGrads(Tensor g, Tensor x, Tensor weight, Tensor bias) {
    return new Tensor[] {
      x.requiresGrad() ? g.newZeros(x.shape()) : null,
      weight.requiresGrad() ? g.newZeros(weight.shape()) : null,
      bias.requiresGrad() ? g.newZeros(bias.shape()) : null
    };
  }

  // ---- pooling ----------------------------------------------------------------------------------

  /**
   * Rows {@code rows} of {@code x} (along dimension 0), in that order, as a new tensor on x's
   * device. Not differentiable: it draws mini-batches from data, it is not for use inside a graph.
   */
  public static Tensor gatherRows(Tensor x, int[] rows) {
    requireFloat("gather_rows", x);
    if (x.rank() == 0) {
      throw new IllegalArgumentException("gather_rows: a scalar has no rows");
    }
    for (int r : rows) {
      if (r < 0 || r >= x.size(0)) {
        throw new IllegalArgumentException(
            "gather_rows: row " + r + " outside [0, " + x.size(0) + ")");
      }
    }
    int[] shape = x.shape().clone();
    shape[0] = rows.length;
    Tensor out = x.newZeros(shape);
    x.backend().gatherRows(x, rows, out);
    return out;
  }

  /** Max-pooling with a square window; padded positions never win. */
  public static Tensor maxPool2d(Tensor x, int kernel, int stride, int padding) {
    requireFloat("max_pool2d", x);
    requireRank("max_pool2d", x, 4);
    if (padding * 2 > kernel) {
      throw new IllegalArgumentException(
          "max_pool2d: padding " + padding + " must be at most half the kernel " + kernel);
    }
    int c = x.size(1);
    ConvGeometry geo =
        new ConvGeometry(
            x.size(0), c, x.size(2), x.size(3), c, kernel, kernel, stride, stride, padding,
            padding);
    Tensor y = x.newZeros(geo.outShape());
    x.backend().maxPool2dForward(geo, x, y);
    return record(
        y,
        "max_pool2d",
        g -> {
          Tensor dx = g.newZeros(x.shape());
          g.backend().maxPool2dBackward(geo, x, y, g, dx);
          return new Tensor[] {dx};
        },
        x);
  }

  /** The mean over H and W: {@code [N, C, H, W]} to {@code [N, C]}. */
  public static Tensor globalAvgPool(Tensor x) {
    requireFloat("global_avg_pool", x);
    requireRank("global_avg_pool", x, 4);
    int n = x.size(0);
    int c = x.size(1);
    int hw = x.size(2) * x.size(3);
    Tensor y = x.newZeros(n, c);
    x.backend().globalAvgPoolForward(n * c, hw, x, y);
    int[] shape = x.shape();
    return record(
        y,
        "global_avg_pool",
        g -> {
          Tensor dx = g.newZeros(shape);
          g.backend().globalAvgPoolBackward(n * c, hw, g, dx);
          return new Tensor[] {dx};
        },
        x);
  }

  // ---- softmax and losses -----------------------------------------------------------------------

  /** Softmax over the last dimension. */
  public static Tensor softmax(Tensor x) {
    requireFloat("softmax", x);
    int cols = x.size(-1);
    int rows = (int) (x.numel() / cols);
    Tensor y = x.newZeros(x.shape());
    x.backend().softmax(rows, cols, x, y);
    return record(
        y,
        "softmax",
        g -> {
          Tensor dx = g.newZeros(g.shape());
          g.backend().softmaxBackward(rows, cols, y, g, dx);
          return new Tensor[] {dx};
        },
        x);
  }

  /** Log-softmax over the last dimension. */
  public static Tensor logSoftmax(Tensor x) {
    requireFloat("log_softmax", x);
    int cols = x.size(-1);
    int rows = (int) (x.numel() / cols);
    Tensor y = x.newZeros(x.shape());
    x.backend().logSoftmax(rows, cols, x, y);
    return record(
        y,
        "log_softmax",
        g -> {
          Tensor dx = g.newZeros(g.shape());
          g.backend().logSoftmaxBackward(rows, cols, y, g, dx);
          return new Tensor[] {dx};
        },
        x);
  }

  /**
   * Mean negative log-likelihood of int64 {@code labels [N]} under log-probabilities {@code logp
   * [N, C]}, with label smoothing {@code smoothing} in [0, 1] spread evenly over all C classes.
   */
  public static Tensor nllLoss(Tensor logp, Tensor labels, float smoothing) {
    requireFloat("nll_loss", logp);
    requireRank("nll_loss", logp, 2);
    sameDevice(logp, labels);
    if (labels.dtype() != DType.INT64 || labels.rank() != 1 || labels.size(0) != logp.size(0)) {
      throw new IllegalArgumentException(
          "nll_loss: labels must be int64 [" + logp.size(0) + "], got " + labels);
    }
    if (!(smoothing >= 0f && smoothing <= 1f)) {
      throw new IllegalArgumentException("label smoothing must be in [0, 1], got " + smoothing);
    }
    int rows = logp.size(0);
    int cols = logp.size(1);
    Tensor out = logp.newZeros();
    logp.backend().nllLoss(rows, cols, logp, labels, smoothing, out);
    return record(
        out,
        "nll_loss",
        g -> {
          Tensor d = g.newZeros(rows, cols);
          g.backend().nllLossBackward(rows, cols, labels, smoothing, g, d);
          return new Tensor[] {d, null};
        },
        logp,
        labels);
  }

  /** PyTorch's {@code F.cross_entropy(logits, labels, label_smoothing=smoothing)}, mean-reduced. */
  public static Tensor crossEntropy(Tensor logits, Tensor labels, float smoothing) {
    return nllLoss(logSoftmax(logits), labels, smoothing);
  }
}

package dev.fingerspell.resnet;

import dev.fingerspell.tensor.ConvGeometry;
import dev.fingerspell.tensor.Device;
import dev.fingerspell.tensor.GradMode;
import dev.fingerspell.tensor.Ops;
import dev.fingerspell.tensor.Tensor;
import dev.fingerspell.tensor.nn.BatchNorm2d;
import dev.fingerspell.tensor.nn.Conv2d;
import java.util.ArrayList;
import java.util.List;

/**
 * A ResNet18 frozen for inference. Each batch norm is folded into the convolution before it, once,
 * when this is built ({@code w' = w·γ/√(σ²+ε)}, {@code b' = β − μ·γ/√(σ²+ε)}, in double), so a
 * forward pass is 20 convolutions whose bias, shortcut add and ReLU happen as their output is
 * written ({@link dev.fingerspell.tensor.Backend#conv2dBiasActivation}), then max pool, average
 * pool and the classifier:
 *
 * <pre>
 *   stem:   y = relu(conv1'(x))                    → 3×3/2 max pool
 *   block:  h = relu(conv1'(x));  y = relu(conv2'(h) + shortcut'(x))
 * </pre>
 *
 * <p>It holds its own copies of the parameters, taken from the model as it is when built; later
 * changes to the model are not seen (build a new one). It keeps the last pass's activations for the
 * next, so passes on one instance run one at a time (each already uses every core). Results equal
 * the model's in evaluation mode up to float rounding (the folded weights round differently; within
 * the 1e-4 contract).
 */
public final class FrozenResNet18 {
  /** A convolution with its batch norm folded in. */
  private record FusedConv(Tensor weight, Tensor bias, int stride, int padding) {
    static FusedConv fold(Conv2d conv, BatchNorm2d bn) {
      Tensor w = conv.weight();
      int out = w.size(0);
      int perOut = (int) (w.numel() / out);
      float[] wv = w.toFloatArray();
      float[] gamma = bn.weight().toFloatArray();
      float[] beta = bn.bias().toFloatArray();
      float[] mean = bn.runningMean().toFloatArray();
      float[] var = bn.runningVar().toFloatArray();
      float[] convBias = conv.bias() == null ? new float[out] : conv.bias().toFloatArray();
      float[] fw = new float[wv.length];
      float[] fb = new float[out];
      for (int o = 0; o < out; o++) {
        double scale = gamma[o] / Math.sqrt((double) var[o] + bn.eps());
        for (int i = o * perOut; i < (o + 1) * perOut; i++) {
          fw[i] = (float) (wv[i] * scale);
        }
        fb[o] = (float) (beta[o] + (convBias[o] - (double) mean[o]) * scale);
      }
      return new FusedConv(
          Tensor.of(w.device(), fw, w.shape()),
          Tensor.of(w.device(), fb, out),
          conv.stride(),
          conv.padding());
    }

    Tensor run(Tensor x, Tensor residual, boolean relu, Arena arena) {
      ConvGeometry g = ConvGeometry.of(x, weight, stride, stride, padding, padding);
      Tensor y = arena.acquire(x, g.outShape());
      x.backend().conv2dBiasActivation(g, x, weight, bias, residual, relu, y);
      return y;
    }
  }

  /**
   * Activation buffers shared by the passes: a buffer goes back when its tensor is dead and is
   * reused, as a prefix view, by a later tensor it fits (the smallest that fits). At batch 32 a
   * pass needs ~250 MB of activations but at most ~155 MB at once; allocating them afresh each pass
   * made the heap grow to four times that before the collector gave any back.
   */
  private static final class Arena {
    private final List<Tensor> free = new ArrayList<>();
    private final java.util.Map<Tensor, Tensor> bases = new java.util.IdentityHashMap<>();

    /** A tensor shaped {@code shape} on like's device; its contents are to be overwritten. */
    Tensor acquire(Tensor like, int[] shape) {
      long numel = 1;
      for (int d : shape) {
        numel *= d;
      }
      Tensor best = null;
      for (Tensor t : free) {
        if (t.numel() >= numel
            && t.device().equals(like.device())
            && (best == null || t.numel() < best.numel())) {
          best = t;
        }
      }
      if (best == null) {
        best = like.newZeros(Math.toIntExact(numel));
      } else {
        free.remove(best);
      }
      Tensor view = best.narrowRows(0, (int) numel).reshape(shape);
      bases.put(view, best);
      return view;
    }

    /** Gives {@code t} (from {@link #acquire}) back; other tensors are ignored. */
    void release(Tensor t) {
      Tensor base = bases.remove(t);
      if (base != null) {
        free.add(base);
      }
    }
  }

  private record Block(FusedConv conv1, FusedConv conv2, FusedConv downsample) {
    /** The block's output; x, and everything made on the way, go back to the arena. */
    Tensor forward(Tensor x, Arena arena) {
      Tensor h = conv1.run(x, null, true, arena);
      Tensor shortcut = downsample == null ? x : downsample.run(x, null, false, arena);
      Tensor out = conv2.run(h, shortcut, true, arena);
      arena.release(h);
      arena.release(shortcut);
      arena.release(x);
      return out;
    }
  }

  private final FusedConv stem;
  private final List<Block> blocks = new ArrayList<>();
  private final Tensor fcWeight;
  private final Tensor fcBias;
  private final Arena arena = new Arena();

  private FrozenResNet18(ResNet18 model) {
    stem = FusedConv.fold(model.conv1(), model.bn1());
    for (BasicBlock b : model.blocks()) {
      blocks.add(
          new Block(
              FusedConv.fold(b.conv1(), b.bn1()),
              FusedConv.fold(b.conv2(), b.bn2()),
              b.downsampleConv() == null
                  ? null
                  : FusedConv.fold(b.downsampleConv(), b.downsampleBn())));
    }
    fcWeight = model.fc().weight().detach().copy();
    fcBias = model.fc().bias().detach().copy();
  }

  /** A frozen copy of {@code model}'s current parameters and batch-norm statistics. */
  public static FrozenResNet18 of(ResNet18 model) {
    return new FrozenResNet18(model);
  }

  /** The number of classes of the classifier. */
  public int numClasses() {
    return fcWeight.size(0);
  }

  /**
   * The 512-d pooled features of {@code images [N, 3, H, W]} (normalised as {@link Preprocess}).
   */
  public Tensor forwardFeatures(Tensor images) {
    checkImages(images);
    synchronized (arena) { // one pass at a time: passes share the buffers
      Tensor x = stages(images, STAGES);
      try (GradMode g = GradMode.noGrad()) {
        return Ops.globalAvgPool(x); // a fresh tensor: the caller keeps it
      } finally {
        arena.release(x);
      }
    }
  }

  /**
   * The output of the stem and {@code layer1} to {@code layer<lastLayer>} (0 to 4; 0 is the max
   * pool's output), a fresh tensor: what {@link ResNet18#forwardFrom} takes when only the later
   * stages train and the earlier ones are constant.
   */
  public Tensor forwardThrough(Tensor images, int lastLayer) {
    if (lastLayer < 0 || lastLayer > STAGES) {
      throw new IllegalArgumentException("lastLayer must be 0 to 4, not " + lastLayer);
    }
    checkImages(images);
    synchronized (arena) {
      Tensor x = stages(images, lastLayer);
      try (GradMode g = GradMode.noGrad()) {
        return x.copy(); // the arena's buffer is overwritten by the next pass
      } finally {
        arena.release(x);
      }
    }
  }

  private static final int STAGES = 4;

  /** The stem and the first {@code count} stages, in the arena's buffers. */
  private Tensor stages(Tensor images, int count) {
    Tensor x = stemAndPool(images);
    for (Block b : blocks.subList(0, count * blocks.size() / STAGES)) {
      x = b.forward(x, arena);
    }
    return x;
  }

  private static void checkImages(Tensor images) {
    if (images.rank() != 4 || images.size(1) != 3) {
      throw new IllegalArgumentException(
          "ResNet18 takes images [N, 3, H, W], not " + java.util.Arrays.toString(images.shape()));
    }
  }

  /**
   * {@code maxpool(relu(conv1'(images)))}, a few images at a time: the stem's output is four times
   * the pooled one (103 MB at batch 32, 224²), so only a chunk of it is ever held. A chunk has one
   * image per core, as many as the convolution shares out at once.
   */
  private Tensor stemAndPool(Tensor images) {
    int n = images.size(0);
    // A GPU wants the whole batch in one call; the memory argument is the CPU's.
    int chunk = images.device().type() == Device.Type.CPU ? Math.min(n, STEM_CHUNK) : n;
    Tensor pooled = null;
    for (int first = 0; first < n; first += chunk) {
      Tensor part = images.narrowRows(first, Math.min(n, first + chunk));
      Tensor stemOut = stem.run(part, null, true, arena);
      ConvGeometry pool =
          new ConvGeometry(
              stemOut.size(0),
              stemOut.size(1),
              stemOut.size(2),
              stemOut.size(3),
              stemOut.size(1),
              3,
              3,
              2,
              2,
              1,
              1);
      if (pooled == null) {
        int[] shape = pool.outShape();
        shape[0] = n;
        pooled = arena.acquire(stemOut, shape);
      }
      stemOut
          .backend()
          .maxPool2dForward(pool, stemOut, pooled.narrowRows(first, first + part.size(0)));
      arena.release(stemOut);
    }
    return pooled;
  }

  private static final int STEM_CHUNK = Runtime.getRuntime().availableProcessors();

  /** The logits of {@code images [N, 3, H, W]}. */
  public Tensor forward(Tensor images) {
    Tensor features = forwardFeatures(images);
    try (GradMode g = GradMode.noGrad()) {
      return Ops.linear(features, fcWeight, fcBias);
    }
  }
}

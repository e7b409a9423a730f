package dev.fingerspell.resnet;

import dev.fingerspell.tensor.ConvGeometry;
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
 * changes to the model are not seen (build a new one). Results equal the model's in evaluation mode
 * up to float rounding (the folded weights round differently; within the 1e-4 contract).
 */
public final class FrozenResNet18 {
  /** A convolution with its batch norm folded in. */
  private record FusedConv(Tensor weight, Tensor bias, int kernel, int stride, int padding) {
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
          w.size(2),
          conv.stride(),
          conv.padding());
    }

    Tensor run(Tensor x, Tensor residual, boolean relu) {
      ConvGeometry g =
          new ConvGeometry(
              x.size(0),
              x.size(1),
              x.size(2),
              x.size(3),
              weight.size(0),
              kernel,
              kernel,
              stride,
              stride,
              padding,
              padding);
      Tensor y = x.newZeros(g.outShape());
      x.backend().conv2dBiasActivation(g, x, weight, bias, residual, relu, y);
      return y;
    }
  }

  private record Block(FusedConv conv1, FusedConv conv2, FusedConv downsample) {
    Tensor forward(Tensor x) {
      Tensor h = conv1.run(x, null, true);
      Tensor shortcut = downsample == null ? x : downsample.run(x, null, false);
      return conv2.run(h, shortcut, true);
    }
  }

  private final FusedConv stem;
  private final List<Block> blocks = new ArrayList<>();
  private final Tensor fcWeight;
  private final Tensor fcBias;

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
    if (images.rank() != 4 || images.size(1) != 3) {
      throw new IllegalArgumentException(
          "ResNet18 takes images [N, 3, H, W], not " + java.util.Arrays.toString(images.shape()));
    }
    try (GradMode g = GradMode.noGrad()) {
      Tensor x = Ops.maxPool2d(stem.run(images, null, true), 3, 2, 1);
      for (Block b : blocks) {
        x = b.forward(x);
      }
      return Ops.globalAvgPool(x);
    }
  }

  /** The logits of {@code images [N, 3, H, W]}. */
  public Tensor forward(Tensor images) {
    Tensor features = forwardFeatures(images);
    try (GradMode g = GradMode.noGrad()) {
      return Ops.linear(features, fcWeight, fcBias);
    }
  }
}

package dev.fingerspell.resnet;

import dev.fingerspell.tensor.Ops;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.tensor.Tensor;
import dev.fingerspell.tensor.nn.BatchNorm2d;
import dev.fingerspell.tensor.nn.Conv2d;
import dev.fingerspell.tensor.nn.Module;
import dev.fingerspell.tensor.nn.Sequential;

/**
 * ResNet's basic block, as timm's {@code BasicBlock}: two 3×3 convolutions with batch norm, the
 * stride on the first, and a shortcut that is the input itself or, when the stride or width
 * changes, a 1×1 convolution + batch norm ({@code downsample.0}, {@code downsample.1}).
 *
 * <pre>
 *   out = relu(bn1(conv1(x)))
 *   out = bn2(conv2(out))
 *   return relu(out + shortcut(x))
 * </pre>
 */
public final class BasicBlock extends Module {
  private final Conv2d conv1;
  private final BatchNorm2d bn1;
  private final Conv2d conv2;
  private final BatchNorm2d bn2;
  private final Sequential downsample;
  private final Conv2d downConv;
  private final BatchNorm2d downBn;

  /** A block from {@code in} to {@code out} channels moving by {@code stride}. */
  public BasicBlock(int in, int out, int stride, Rng rng) {
    conv1 = registerModule("conv1", ResNet18.conv(in, out, 3, stride, 1, rng));
    bn1 = registerModule("bn1", new BatchNorm2d(out));
    conv2 = registerModule("conv2", ResNet18.conv(out, out, 3, 1, 1, rng));
    bn2 = registerModule("bn2", new BatchNorm2d(out));
    boolean projects = stride != 1 || in != out;
    downConv = projects ? ResNet18.conv(in, out, 1, stride, 0, rng) : null;
    downBn = projects ? new BatchNorm2d(out) : null;
    downsample = projects ? registerModule("downsample", new Sequential(downConv, downBn)) : null;
  }

  Conv2d conv1() {
    return conv1;
  }

  BatchNorm2d bn1() {
    return bn1;
  }

  Conv2d conv2() {
    return conv2;
  }

  BatchNorm2d bn2() {
    return bn2;
  }

  /** The shortcut's 1×1 convolution, or null when the shortcut is the input itself. */
  Conv2d downsampleConv() {
    return downConv;
  }

  /** The shortcut's batch norm, or null. */
  BatchNorm2d downsampleBn() {
    return downBn;
  }

  @Override
  public Tensor forward(Tensor x) {
    Tensor out = Ops.relu(bn1.forward(conv1.forward(x)));
    out = bn2.forward(conv2.forward(out));
    Tensor shortcut = downsample == null ? x : downsample.forward(x);
    return Ops.relu(Ops.add(out, shortcut));
  }
}

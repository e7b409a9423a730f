package dev.fingerspell.resnet;

import dev.fingerspell.tensor.Ops;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.tensor.Tensor;
import dev.fingerspell.tensor.nn.BatchNorm2d;
import dev.fingerspell.tensor.nn.Conv2d;
import dev.fingerspell.tensor.nn.Init;
import dev.fingerspell.tensor.nn.Linear;
import dev.fingerspell.tensor.nn.MaxPool2d;
import dev.fingerspell.tensor.nn.Module;
import dev.fingerspell.tensor.nn.Sequential;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * ResNet18 exactly as timm's {@code resnet18} (and torchvision's) builds it, with the same
 * parameter names:
 *
 * <pre>
 *   conv1 7×7/2 (64) → bn1 → ReLU → 3×3/2 max-pool
 *   layer1 (64, stride 1) → layer2 (128, /2) → layer3 (256, /2) → layer4 (512, /2), 2 blocks each
 *   global average pool → fc (512 → classes)
 * </pre>
 *
 * A backbone part that is not trainable gets no gradients and runs its batch norms in evaluation
 * mode on the pretrained statistics, whatever {@link #train(boolean)} says.
 */
public final class ResNet18 extends Module {
  /** Width of the pooled features. */
  public static final int FEATURES = 512;

  /**
   * The side of layer4's output for a square input of {@code inputSide} (7 for 224): the smallest
   * plane a batch norm sees.
   */
  public static int lastStageSide(int inputSide) {
    int side = (inputSide + 2 * 3 - 7) / 2 + 1; // conv1: 7×7, stride 2, padding 3
    for (int halving = 0; halving < 4; halving++) { // the max pool, then layer2-4: 3×3, stride 2
      side = (side + 2 * 1 - 3) / 2 + 1;
    }
    return side;
  }

  /**
   * The fewest images a training batch needs at {@code inputSide} so that every batch norm has two
   * values a channel to take statistics of: 1, or 2 where layer4's plane is a single value (inputs
   * of 32 or less).
   */
  public static int minTrainingBatch(int inputSide) {
    int side = lastStageSide(inputSide);
    return side * side >= 2 ? 1 : 2;
  }

  /** Which parameters train. */
  public enum Trainable {
    /** Only {@code fc}: the backbone is a fixed feature extractor. */
    HEAD,
    /** {@code layer4} and {@code fc}. */
    LAYER4,
    /** Everything. */
    ALL;

    /** Parses {@code head}, {@code layer4} or {@code all}. */
    public static Trainable parse(String s) {
      try {
        return valueOf(s.trim().toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(
            "trainable must be head, layer4 or all, not '" + s + "'", e);
      }
    }
  }

  private final Conv2d conv1;
  private final BatchNorm2d bn1;
  private final MaxPool2d maxpool;
  private final List<Sequential> layers;
  private Linear fc;
  private Trainable trainable = Trainable.ALL;

  /**
   * A randomly initialised ResNet18 (timm's initialisation), drawn from {@code rng}; with a null
   * {@code rng}, parameters start at zero for weights that are loaded next.
   */
  public ResNet18(int numClasses, Rng rng) {
    conv1 = registerModule("conv1", conv(3, 64, 7, 2, 3, rng));
    bn1 = registerModule("bn1", new BatchNorm2d(64));
    maxpool = new MaxPool2d(3, 2, 1);
    layers =
        List.of(
            registerModule("layer1", stage(64, 64, 1, rng)),
            registerModule("layer2", stage(64, 128, 2, rng)),
            registerModule("layer3", stage(128, 256, 2, rng)),
            registerModule("layer4", stage(256, 512, 2, rng)));
    fc = registerModule("fc", new Linear(FEATURES, numClasses, true, rng));
  }

  private static Sequential stage(int in, int out, int stride, Rng rng) {
    return new Sequential(new BasicBlock(in, out, stride, rng), new BasicBlock(out, out, 1, rng));
  }

  /** A bias-free convolution with timm's initialisation (Kaiming normal, fan-out, ReLU gain). */
  static Conv2d conv(int in, int out, int kernel, int stride, int padding, Rng rng) {
    // With an rng, the default draw stays in the sequence (it is overwritten by timm's below) so
    // that a seed keeps giving the same network.
    Conv2d c = new Conv2d(in, out, kernel, stride, padding, false, rng);
    if (rng != null) {
      c.weight().copyFrom(Init.kaimingNormalFanOut(rng, out * kernel * kernel, c.weight().shape()));
    }
    return c;
  }

  Conv2d conv1() {
    return conv1;
  }

  BatchNorm2d bn1() {
    return bn1;
  }

  /** The eight basic blocks, layer1.0 to layer4.1. */
  List<BasicBlock> blocks() {
    return layers.stream()
        .flatMap(l -> l.children().values().stream())
        .map(BasicBlock.class::cast)
        .toList();
  }

  /** The number of classes of the classifier. */
  public int numClasses() {
    return fc.weight().size(0);
  }

  /** The classifier. */
  public Linear fc() {
    return fc;
  }

  /** A fresh {@code fc} for {@code numClasses} classes (PyTorch's default initialisation). */
  public void resetClassifier(int numClasses, Rng rng) {
    fc = replaceModule("fc", new Linear(FEATURES, numClasses, true, rng));
    setTrainable(trainable);
  }

  /**
   * The 512-d globally pooled features of {@code images [N, 3, H, W]} (normalised as {@link
   * Preprocess} does).
   */
  public Tensor forwardFeatures(Tensor images) {
    Tensor x = Ops.relu(bn1.forward(conv1.forward(images)));
    return featuresFrom(1, maxpool.forward(x));
  }

  /**
   * The logits from {@code x}, the output of the stage before {@code layer} (1 to 4, as in {@code
   * layer1}..{@code layer4}; 1 takes the max pool's output): the stages from {@code layer} on, the
   * pool and the classifier. With {@link Trainable#LAYER4} the stages before it are frozen, and
   * their output can come from a {@link FrozenResNet18} ({@link FrozenResNet18#forwardThrough}).
   */
  public Tensor forwardFrom(int layer, Tensor x) {
    return forwardHead(featuresFrom(layer, x));
  }

  private Tensor featuresFrom(int layer, Tensor x) {
    if (layer < 1 || layer > layers.size()) {
      throw new IllegalArgumentException("layer must be 1 to 4, not " + layer);
    }
    for (Sequential stage : layers.subList(layer - 1, layers.size())) {
      x = stage.forward(x);
    }
    return Ops.globalAvgPool(x);
  }

  /** The logits of pooled features. */
  public Tensor forwardHead(Tensor features) {
    return fc.forward(features);
  }

  @Override
  public Tensor forward(Tensor images) {
    return forwardHead(forwardFeatures(images));
  }

  /** What trains now. */
  public Trainable trainable() {
    return trainable;
  }

  /**
   * Freezes what {@code which} leaves out: those parameters stop requiring grad and their batch
   * norms switch to evaluation mode (and stay there through {@link #train(boolean)}).
   */
  public ResNet18 setTrainable(Trainable which) {
    trainable = which;
    requiresGrad(which == Trainable.ALL);
    if (which == Trainable.LAYER4) {
      layers.get(3).requiresGrad(true);
    }
    fc.requiresGrad(true);
    train(isTraining());
    return this;
  }

  /**
   * The part of {@link #stateDict()} that training changes with the current {@link Trainable}: the
   * trainable modules' parameters and their batch norms' running statistics. The rest is as loaded
   * (what a checkpoint to resume from can leave out). Live tensors, in state-dict order.
   */
  public Map<String, Tensor> trainableState() {
    List<String> prefixes =
        switch (trainable) {
          case HEAD -> List.of("fc.");
          case LAYER4 -> List.of("layer4.", "fc.");
          case ALL -> List.of("");
        };
    Map<String, Tensor> out = new LinkedHashMap<>();
    stateDict()
        .forEach(
            (name, t) -> {
              if (prefixes.stream().anyMatch(name::startsWith)) {
                out.put(name, t);
              }
            });
    return out;
  }

  @Override
  public Module train(boolean on) {
    super.train(on);
    if (on && trainable != Trainable.ALL) {
      conv1.eval();
      bn1.eval();
      for (int i = 0; i < (trainable == Trainable.LAYER4 ? 3 : 4); i++) {
        layers.get(i).eval();
      }
    }
    return this;
  }
}

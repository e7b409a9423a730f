package dev.fingerspell.tensor.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fingerspell.tensor.DType;
import dev.fingerspell.tensor.Ops;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class ModuleTest {
  /** A BasicBlock-shaped module, to check nested dotted names as timm writes them. */
  static final class Block extends Module {
    final Conv2d conv1;
    final BatchNorm2d bn1;

    Block(Rng rng) {
      conv1 = registerModule("conv1", new Conv2d(2, 2, 3, 1, 1, false, rng));
      bn1 = registerModule("bn1", new BatchNorm2d(2));
    }

    @Override
    public Tensor forward(Tensor x) {
      return Ops.relu(bn1.forward(conv1.forward(x)));
    }
  }

  static final class Net extends Module {
    Net(Rng rng) {
      registerModule("layer1", new Sequential(new Block(rng), new Block(rng)));
      registerModule("fc", new Linear(2, 3, true, rng));
    }

    @Override
    public Tensor forward(Tensor x) {
      Tensor f = Ops.globalAvgPool(children().get("layer1").forward(x));
      return children().get("fc").forward(f);
    }
  }

  @Test
  void stateDictNamesAndOrderFollowPyTorch() {
    Net net = new Net(new Rng(0));
    List<String> keys = new ArrayList<>(net.stateDict().keySet());
    assertEquals(
        List.of(
            "layer1.0.conv1.weight",
            "layer1.0.bn1.weight",
            "layer1.0.bn1.bias",
            "layer1.0.bn1.running_mean",
            "layer1.0.bn1.running_var",
            "layer1.0.bn1.num_batches_tracked",
            "layer1.1.conv1.weight",
            "layer1.1.bn1.weight",
            "layer1.1.bn1.bias",
            "layer1.1.bn1.running_mean",
            "layer1.1.bn1.running_var",
            "layer1.1.bn1.num_batches_tracked",
            "fc.weight",
            "fc.bias"),
        keys);
    assertEquals(8, net.namedParameters().size());
    assertEquals(6, net.namedBuffers().size());
    assertEquals(DType.INT64, net.stateDict().get("layer1.0.bn1.num_batches_tracked").dtype());
    assertEquals(0, net.stateDict().get("layer1.0.bn1.num_batches_tracked").rank());
    assertEquals(2 * (36 + 4) + 9, net.parameterCount());
    assertTrue(net.namedModules().containsKey("layer1.1.bn1"));
  }

  @Test
  void replaceModuleKeepsThePlace() {
    Net net = new Net(new Rng(0));
    net.replaceModule("fc", new Linear(2, 29, true, new Rng(1)));
    assertArrayEquals(new int[] {29, 2}, net.stateDict().get("fc.weight").shape());
    assertThrows(IllegalArgumentException.class, () -> net.replaceModule("head", new ReLU()));
  }

  @Test
  void trainEvalAndFreezeReachEveryDescendant() {
    Net net = new Net(new Rng(0));
    assertTrue(net.namedModules().values().stream().allMatch(Module::isTraining));
    net.eval();
    assertTrue(net.namedModules().values().stream().noneMatch(Module::isTraining));
    net.requiresGrad(false);
    assertTrue(net.trainableParameters().isEmpty());
  }

  @Test
  void batchNormCountsBatchesOnlyInTraining() {
    BatchNorm2d bn = new BatchNorm2d(2);
    Tensor x = Tensor.randn(new Rng(3), 2, 2, 3, 3);
    bn.forward(x);
    bn.forward(x);
    assertArrayEquals(new long[] {2}, bn.stateDict().get("num_batches_tracked").toLongArray());
    float[] meanAfterTraining = bn.runningMean().toFloatArray();
    bn.eval();
    bn.forward(x);
    assertArrayEquals(new long[] {2}, bn.stateDict().get("num_batches_tracked").toLongArray());
    assertArrayEquals(meanAfterTraining, bn.runningMean().toFloatArray());
  }

  @Test
  void defaultInitialisationsHavePyTorchsBounds() {
    Rng rng = new Rng(4);
    Conv2d conv = new Conv2d(16, 32, 3, 1, 1, true, rng);
    double bound = 1 / Math.sqrt(16 * 9);
    checkUniform(conv.weight().toFloatArray(), bound);
    checkUniform(conv.bias().toFloatArray(), bound);
    Linear fc = new Linear(512, 29, true, rng);
    checkUniform(fc.weight().toFloatArray(), 1 / Math.sqrt(512));
    BatchNorm2d bn = new BatchNorm2d(3);
    assertArrayEquals(new float[] {1, 1, 1}, bn.weight().toFloatArray());
    assertArrayEquals(new float[] {0, 0, 0}, bn.bias().toFloatArray());
    assertArrayEquals(new float[] {1, 1, 1}, bn.runningVar().toFloatArray());
    float[] kn = Init.kaimingNormalFanOut(rng, 64 * 9, 64, 3, 3, 3).toFloatArray();
    double sq = 0;
    for (float v : kn) {
      sq += (double) v * v / kn.length;
    }
    assertEquals(2.0 / (64 * 9), sq, 0.2 * 2.0 / (64 * 9));
  }

  private static void checkUniform(float[] v, double bound) {
    double sq = 0;
    for (float x : v) {
      assertTrue(Math.abs(x) <= bound, x + " outside ±" + bound);
      sq += (double) x * x / v.length;
    }
    // variance of U(-b, b) is b²/3
    assertEquals(bound * bound / 3, sq, 0.25 * bound * bound / 3);
  }

  @Test
  void badNamesAreRejected() {
    Module m =
        new Module() {
          @Override
          public Tensor forward(Tensor input) {
            return input;
          }
        };
    assertThrows(IllegalArgumentException.class, () -> m.registerBuffer("a.b", Tensor.zeros(1)));
    m.registerBuffer("a", Tensor.zeros(1));
    assertThrows(IllegalArgumentException.class, () -> m.registerBuffer("a", Tensor.zeros(1)));
    assertFalse(m.stateDict().isEmpty());
  }
}

package dev.fingerspell.nd4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fingerspell.tensor.Backend;
import dev.fingerspell.tensor.Backends;
import dev.fingerspell.tensor.ConvGeometry;
import dev.fingerspell.tensor.Device;
import dev.fingerspell.tensor.GradCheck;
import dev.fingerspell.tensor.Ops;
import dev.fingerspell.tensor.OwnJvm;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.tensor.Tensor;
import dev.fingerspell.tensor.cpu.CpuBackend;
import dev.fingerspell.tensor.optim.Sgd;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The ND4J backend against the pure-Java one on the same values: every convolution kind of ResNet18
 * forward and backward, the fused inference op, and training steps through autograd. ND4J's native
 * library loads on every machine the build runs on (Linux x86-64), so nothing here is skipped.
 */
class Nd4jBackendTest {
  private final Backend pureJava = new CpuBackend();
  private final Nd4jBackend nd4j = new Nd4jBackend();

  @AfterEach
  void backToAuto() {
    Backends.useDevice((Device) null);
  }

  @Test
  void chosenByNameOnlyNeverByDefault() {
    assertTrue(nd4j.isAvailable(), nd4j.unavailableReason());
    assertTrue(nd4j.describe().contains("oneDNN"), nd4j.describe());
    assertTrue(Backends.all().stream().anyMatch(b -> b.name().equals("nd4j")));
    assertInstanceOf(CpuBackend.class, Backends.forDevice(Device.CPU));
    assertTrue(!(Backends.forDevice(Device.CPU) instanceof Nd4jBackend), "auto picked nd4j");

    Backends.useDevice("nd4j");
    assertEquals(Device.CPU, Backends.defaultDevice());
    assertInstanceOf(Nd4jBackend.class, Backends.forDevice(Device.CPU));
    assertInstanceOf(Nd4jBackend.class, Tensor.zeros(2, 2).backend());

    Backends.useDevice("cpu"); // a device forgets the backend chosen by name
    assertTrue(!(Backends.forDevice(Device.CPU) instanceof Nd4jBackend));

    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Backends.useDevice("tpu"));
    assertEquals("unknown device 'tpu': use auto, cpu, cuda, cuda:N, nd4j", e.getMessage());
  }

  /**
   * Where this JVM does not compile the Vector API (C1 only here), {@code auto} takes ND4J, whose
   * convolutions are then 40× faster; {@code cpu} still names the pure-Java backend.
   */
  @Test
  void autoTakesItWhereTheVectorApiIsNotCompiled() throws Exception {
    OwnJvm.Result c1 =
        OwnJvm.run(List.of("-XX:TieredStopAtLevel=1"), Map.of(), ChosenBackends.class);
    assertEquals(0, c1.status(), c1.output());
    assertTrue(c1.output().contains("auto: nd4j\ncpu: cpu\n"), c1.output());
    OwnJvm.Result c2 = OwnJvm.run(List.of(), Map.of(), ChosenBackends.class);
    assertTrue(c2.output().contains("auto: cpu\ncpu: cpu\n"), c2.output());
  }

  /** Prints the backend {@code auto} gives the CPU, and the one {@code cpu} does. */
  public static final class ChosenBackends {
    private ChosenBackends() {}

    public static void main(String[] args) {
      System.out.println("auto: " + Backends.forDevice(Backends.defaultDevice()).name());
      Backends.useDevice("cpu");
      System.out.println("cpu: " + Backends.forDevice(Backends.defaultDevice()).name());
    }
  }

  /** Forward, then the three gradients of {@code sum(y * r)}, for one convolution. */
  private void checkConvolution(String what, ConvGeometry g, boolean bias) {
    Rng rng = new Rng(what.hashCode());
    Tensor x = Tensor.randn(rng, g.batch(), g.inChannels(), g.inHeight(), g.inWidth());
    Tensor w = Tensor.randn(rng, g.outChannels(), g.inChannels(), g.kernelH(), g.kernelW());
    Tensor b = bias ? Tensor.randn(rng, g.outChannels()) : null;
    Tensor dy = Tensor.randn(rng, g.outShape());
    float[][] got = convolve(nd4j, g, x, w, b, dy);
    float[][] want = convolve(pureJava, g, x, w, b, dy);
    String[] names = {"forward", "input gradient", "weight gradient", "bias gradient"};
    for (int i = 0; i < got.length; i++) {
      if (want[i] == null) {
        continue;
      }
      double err = GradCheck.relError(got[i], GradCheck.toDouble(want[i]));
      assertTrue(err < 1e-5, what + " " + names[i] + ": relative error " + err);
    }
  }

  private static float[][] convolve(
      Backend be, ConvGeometry g, Tensor x, Tensor w, Tensor b, Tensor dy) {
    Tensor y = Tensor.zeros(g.outShape());
    be.conv2dForward(g, x, w, b, y);
    Tensor dx = x.newZeros(x.shape());
    Tensor dw = w.newZeros(w.shape());
    Tensor db = b == null ? null : b.newZeros(b.shape());
    be.conv2dBackward(g, x, dy, w, dx, dw, db);
    // the single-gradient calls give the same as the combined one
    Tensor dxAlone = x.newZeros(x.shape());
    be.conv2dBackwardData(g, dy, w, dxAlone);
    Tensor dwAlone = w.newZeros(w.shape());
    be.conv2dBackwardFilter(g, x, dy, dwAlone, null);
    assertTrue(
        GradCheck.relError(dxAlone.toFloatArray(), GradCheck.toDouble(dx.toFloatArray())) < 1e-6);
    assertTrue(
        GradCheck.relError(dwAlone.toFloatArray(), GradCheck.toDouble(dw.toFloatArray())) < 1e-6);
    return new float[][] {
      y.toFloatArray(), dx.toFloatArray(), dw.toFloatArray(), db == null ? null : db.toFloatArray()
    };
  }

  @Test
  void everyConvolutionKindOfResNet18() {
    // the stem, 3x3 at stride 1 and 2, the 1x1 downsample; small images, odd sizes, batch 1
    checkConvolution("stem 7x7/2", new ConvGeometry(2, 3, 38, 38, 16, 7, 7, 2, 2, 3, 3), false);
    checkConvolution("3x3/1", new ConvGeometry(3, 16, 14, 14, 24, 3, 3, 1, 1, 1, 1), false);
    checkConvolution("3x3/2 odd", new ConvGeometry(2, 8, 15, 13, 16, 3, 3, 2, 2, 1, 1), false);
    checkConvolution("1x1/2", new ConvGeometry(2, 16, 14, 14, 32, 1, 1, 2, 2, 0, 0), false);
    checkConvolution(
        "3x3/1 bias, batch 1", new ConvGeometry(1, 5, 9, 11, 7, 3, 3, 1, 1, 1, 1), true);
    checkConvolution("layer4 3x3", new ConvGeometry(2, 64, 7, 7, 64, 3, 3, 1, 1, 1, 1), true);
  }

  @Test
  void fusedInferenceConvolutionWithResidualAndRelu() {
    ConvGeometry g = new ConvGeometry(2, 16, 12, 12, 16, 3, 3, 1, 1, 1, 1);
    Rng rng = new Rng(11);
    Tensor x = Tensor.randn(rng, 2, 16, 12, 12);
    Tensor w = Tensor.randn(rng, 16, 16, 3, 3);
    Tensor bias = Tensor.randn(rng, 16);
    Tensor residual = Tensor.randn(rng, 2, 16, 12, 12);
    for (boolean relu : new boolean[] {false, true}) {
      for (Tensor r : new Tensor[] {null, residual}) {
        Tensor got = Tensor.zeros(g.outShape());
        Tensor want = Tensor.zeros(g.outShape());
        nd4j.conv2dBiasActivation(g, x, w, bias, r, relu, got);
        pureJava.conv2dBiasActivation(g, x, w, bias, r, relu, want);
        double err =
            GradCheck.relError(got.toFloatArray(), GradCheck.toDouble(want.toFloatArray()));
        assertTrue(err < 1e-5, "relu " + relu + ", residual " + (r != null) + ": " + err);
      }
    }
  }

  @Test
  void viewsAtAnOffsetAreReadAndWrittenInPlace() {
    // a tensor may be a view into a larger storage: ND4J must read and write only its part
    ConvGeometry g = new ConvGeometry(1, 2, 5, 5, 3, 3, 3, 1, 1, 1, 1);
    Tensor images = Tensor.randn(new Rng(5), 3, 2, 5, 5);
    Tensor second = images.narrowRows(1, 2);
    Tensor w = Tensor.randn(new Rng(6), 3, 2, 3, 3);
    Tensor outs = Tensor.full(7f, 3, 3, 5, 5);
    Tensor middle = outs.narrowRows(1, 2);
    nd4j.conv2dForward(g, second, w, null, middle);
    Tensor want = Tensor.zeros(1, 3, 5, 5);
    pureJava.conv2dForward(g, second, w, null, want);
    float[] all = outs.toFloatArray();
    float[] got = Arrays.copyOfRange(all, 75, 150);
    assertTrue(GradCheck.relError(got, GradCheck.toDouble(want.toFloatArray())) < 1e-5);
    for (int i = 0; i < 75; i++) {
      assertEquals(7f, all[i], "before the view");
      assertEquals(7f, all[150 + i], "after the view");
    }
  }

  /**
   * Three SGD steps of a conv → ReLU → strided conv → ReLU → pool → linear net end where the CPU's
   * do.
   */
  @Test
  void trainingStepsThroughAutogradMatchThePureJavaBackend() {
    float[][] finalWeights = new float[2][];
    float[] losses = new float[2];
    for (int run = 0; run < 2; run++) {
      Backends.useDevice(run == 0 ? "cpu" : "nd4j");
      Rng rng = new Rng(21);
      Tensor w1 = Ops.mul(Tensor.randn(rng, 8, 3, 3, 3), 0.3f).detach().requiresGrad(true);
      Tensor b1 = Tensor.zeros(8).requiresGrad(true);
      Tensor w2 = Ops.mul(Tensor.randn(rng, 8, 8, 3, 3), 0.2f).detach().requiresGrad(true);
      Tensor fc = Ops.mul(Tensor.randn(rng, 4, 8), 0.3f).detach().requiresGrad(true);
      Tensor x = Tensor.randn(new Rng(22), 4, 3, 16, 16).requiresGrad(true);
      Tensor labels = Tensor.ofLongs(new long[] {0, 1, 2, 3}, 4);
      Sgd opt = new Sgd(List.of(w1, b1, w2, fc), 0.1, 0.9, 0, 0, false);
      for (int step = 0; step < 3; step++) {
        Tensor h = Ops.relu(Ops.conv2d(x, w1, b1, 1, 1, 1, 1));
        h = Ops.relu(Ops.conv2d(h, w2, null, 2, 2, 1, 1));
        Tensor logits = Ops.linear(Ops.globalAvgPool(h), fc, null);
        Tensor loss = Ops.crossEntropy(logits, labels, 0f);
        opt.zeroGrad();
        loss.backward();
        opt.step();
        losses[run] = loss.item();
      }
      finalWeights[run] = w1.toFloatArray();
    }
    assertEquals(losses[0], losses[1], 1e-5 * Math.abs(losses[0]), "third step's loss");
    double err = GradCheck.relError(finalWeights[1], GradCheck.toDouble(finalWeights[0]));
    assertTrue(err < 1e-5, "first layer's weights after 3 steps: relative error " + err);
  }
}

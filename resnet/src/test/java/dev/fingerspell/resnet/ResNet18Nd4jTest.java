package dev.fingerspell.resnet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.fingerspell.nd4j.Nd4jBackend;
import dev.fingerspell.tensor.Backends;
import dev.fingerspell.tensor.Device;
import dev.fingerspell.tensor.GradCheck;
import dev.fingerspell.tensor.GradMode;
import dev.fingerspell.tensor.Ops;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.tensor.Tensor;
import dev.fingerspell.tensor.optim.Sgd;
import java.io.IOException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * ResNet18 with its convolutions in ND4J (oneDNN): logits against the PyTorch golden within 1e-4,
 * live and frozen, and whole-network training steps that end where the pure-Java backend's do.
 */
class ResNet18Nd4jTest {
  @AfterEach
  void backToAuto() {
    Backends.useDevice((Device) null);
  }

  @Test
  void logitsMatchPyTorch() throws IOException {
    Backends.useDevice("nd4j");
    JsonNode golden = SeededWeights.golden();
    ResNet18 model = SeededWeights.goldenModel(golden);
    assertInstanceOf(Nd4jBackend.class, model.conv1().weight().backend());
    FrozenResNet18 frozen = FrozenResNet18.of(model);
    Rng images = new Rng(golden.get("image_seed").asLong());
    Preprocess pre = Preprocess.imagenet();
    for (JsonNode c : golden.get("cases")) {
      int h = c.get("height").asInt();
      int w = c.get("width").asInt();
      Tensor x =
          Tensor.of(pre.fromRgb(SeededWeights.bytes(images, 3 * h * w), h, w), 1, 3, 224, 224);
      double[] want = ResNetParityTest.doubles(c.get("logits"));
      float[] live;
      try (GradMode g = GradMode.noGrad()) {
        live = model.forward(x).toFloatArray();
      }
      double err = GradCheck.relError(live, want);
      double frozenErr = GradCheck.relError(frozen.forward(x).toFloatArray(), want);
      System.out.printf(
          "nd4j resnet18 parity %s: live %.2e, frozen %.2e%n",
          c.get("name").asText(), err, frozenErr);
      assertTrue(err < 1e-4, c.get("name").asText() + ": logits relative error " + err);
      assertTrue(frozenErr < 1e-4, c.get("name").asText() + " frozen: " + frozenErr);
    }
  }

  /**
   * Two SGD steps of the whole network in training mode (batch statistics, every convolution's
   * backward through {@code conv2d_bp}) end at the same weights as the pure-Java backend's. The
   * stem's gradient has come back through every layer; the pure-Java side computes 3×3 layers as
   * Winograd, so the stem is held to the gradient contract, 1e-3.
   */
  @Test
  void trainingStepsOfTheWholeNetworkMatchThePureJavaBackend() {
    float[][] stem = new float[2][];
    float[][] fc = new float[2][];
    float[] losses = new float[2];
    for (int run = 0; run < 2; run++) {
      Backends.useDevice(run == 0 ? "cpu" : "nd4j");
      ResNet18 model = new ResNet18(29, new Rng(0));
      SeededWeights.fill(model, 7L);
      model.setTrainable(ResNet18.Trainable.ALL);
      model.train(true);
      Sgd opt = new Sgd(model.trainableParameters(), 0.05, 0.9, 0, 1e-4, false);
      Tensor x = Tensor.randn(new Rng(8), 4, 3, 64, 64);
      Tensor y = Tensor.ofLongs(new long[] {0, 5, 9, 28}, 4);
      for (int step = 0; step < 2; step++) {
        Tensor loss = Ops.crossEntropy(model.forward(x), y, 0f);
        opt.zeroGrad();
        loss.backward();
        opt.step();
        losses[run] = loss.item();
      }
      stem[run] = model.conv1().weight().toFloatArray();
      fc[run] = model.fc().weight().toFloatArray();
    }
    double stemErr = GradCheck.relError(stem[1], GradCheck.toDouble(stem[0]));
    double fcErr = GradCheck.relError(fc[1], GradCheck.toDouble(fc[0]));
    System.out.printf(
        "nd4j whole-network training, 2 steps: loss %.6f vs %.6f, stem %.2e, fc %.2e%n",
        losses[1], losses[0], stemErr, fcErr);
    assertEquals(losses[0], losses[1], 1e-4 * Math.abs(losses[0]), "loss of the second step");
    assertTrue(stemErr < 1e-3, "stem weights: relative error " + stemErr);
    assertTrue(fcErr < 1e-4, "fc weights: relative error " + fcErr);
  }
}

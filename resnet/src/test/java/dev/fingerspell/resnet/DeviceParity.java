package dev.fingerspell.resnet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.fingerspell.tensor.GradCheck;
import dev.fingerspell.tensor.GradMode;
import dev.fingerspell.tensor.Ops;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.tensor.Tensor;
import dev.fingerspell.tensor.optim.Sgd;
import java.io.IOException;

/**
 * The checks every other backend's ResNet18 passes against the PyTorch golden and the pure-Java
 * backend (ResNet18GpuTest on a GPU, ResNet18Nd4jTest with ND4J's convolutions). Each prints its
 * numbers under {@code tag}.
 */
final class DeviceParity {
  private DeviceParity() {}

  /**
   * The golden network on the default device: logits of every golden case within 1e-4 of PyTorch's,
   * live and frozen (folded batch norm, fused epilogues). Returns the live network.
   */
  static ResNet18 logitsMatchPyTorch(String tag) throws IOException {
    JsonNode golden = SeededWeights.golden();
    ResNet18 model = SeededWeights.goldenModel(golden);
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
          "%s resnet18 parity %s: live %.2e, frozen %.2e%n",
          tag, c.get("name").asText(), err, frozenErr);
      assertTrue(err < 1e-4, c.get("name").asText() + ": logits relative error " + err);
      assertTrue(frozenErr < 1e-4, c.get("name").asText() + " frozen: " + frozenErr);
    }
    return model;
  }

  /**
   * Two SGD steps of the whole network in training mode (batch statistics, every convolution's
   * backward), first after {@code first} chooses the reference device, then after {@code second}
   * chooses the one under test: the losses, the stem's weights (whose gradient has come back
   * through every layer) and the classifier's agree. The stem is held to the gradient contract,
   * 1e-3: four images' batch statistics amplify every rounding difference, and the CPU computes
   * layer1's convolutions and their gradients as Winograd (about 2e-6 relative error an op against
   * 2e-7 direct). Returns the two trained networks.
   */
  static ResNet18[] trainingStepsMatch(String tag, Runnable first, Runnable second) {
    ResNet18[] models = new ResNet18[2];
    float[] losses = new float[2];
    for (int run = 0; run < 2; run++) {
      (run == 0 ? first : second).run();
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
      models[run] = model;
    }
    float[] stem0 = models[0].conv1().weight().toFloatArray();
    double stemErr =
        GradCheck.relError(models[1].conv1().weight().toFloatArray(), GradCheck.toDouble(stem0));
    float[] fc0 = models[0].fc().weight().toFloatArray();
    double fcErr =
        GradCheck.relError(models[1].fc().weight().toFloatArray(), GradCheck.toDouble(fc0));
    System.out.printf(
        "%s whole-network training, 2 steps: loss %.6f vs %.6f, stem %.2e, fc %.2e%n",
        tag, losses[1], losses[0], stemErr, fcErr);
    assertEquals(losses[0], losses[1], 1e-4 * Math.abs(losses[0]), "loss of the second step");
    assertTrue(stemErr < 1e-3, "stem weights: relative error " + stemErr);
    assertTrue(fcErr < 1e-4, "fc weights: relative error " + fcErr);
    return models;
  }
}

package dev.fingerspell.resnet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.fingerspell.tensor.GradCheck;
import dev.fingerspell.tensor.GradMode;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.tensor.Tensor;
import java.io.IOException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Fingerspell's ResNet18 against torchvision's on the same seeded weights and images: logits within
 * relative error 1e-4 (the numerical contract), for a 224×224 image and for images that need
 * resizing (200×200 as in the ASL data, and a non-square one).
 */
class ResNetParityTest {
  private static JsonNode golden;
  private static ResNet18 model;

  @BeforeAll
  static void load() throws IOException {
    golden = SeededWeights.golden();
    model = SeededWeights.goldenModel(golden);
  }

  @Test
  void logitsMatchPyTorch() {
    Rng images = new Rng(golden.get("image_seed").asLong());
    Preprocess pre = Preprocess.imagenet();
    for (JsonNode c : golden.get("cases")) {
      int h = c.get("height").asInt();
      int w = c.get("width").asInt();
      byte[] chw = SeededWeights.bytes(images, 3 * h * w);
      Tensor x = Tensor.of(pre.fromRgb(chw, h, w), 1, 3, 224, 224);
      Tensor features;
      Tensor logits;
      try (GradMode g = GradMode.noGrad()) {
        features = model.forwardFeatures(x);
        logits = model.forwardHead(features);
      }
      double err = GradCheck.relError(logits.toFloatArray(), doubles(c.get("logits")));
      System.out.printf(
          "resnet18 parity %s: logits relative error %.2e%n", c.get("name").asText(), err);
      assertTrue(err < 1e-4, c.get("name").asText() + ": logits relative error " + err);
      float[] f = features.toFloatArray();
      double[] wantF = doubles(c.get("features_head"));
      float[] head = new float[wantF.length];
      System.arraycopy(f, 0, head, 0, head.length);
      assertTrue(GradCheck.relError(head, wantF) < 1e-4, "features");
    }
  }

  /**
   * The frozen network (batch norm folded, fused epilogues) against the same goldens, one image at
   * a time and all cases as one batch, which takes the batched convolution path.
   */
  @Test
  void frozenNetworkMatchesPyTorch() {
    FrozenResNet18 frozen = FrozenResNet18.of(model);
    Rng images = new Rng(golden.get("image_seed").asLong());
    Preprocess pre = Preprocess.imagenet();
    int cases = golden.get("cases").size();
    float[] batch = new float[cases * 3 * 224 * 224];
    double[] want = new double[cases * golden.get("classes").asInt()];
    int i = 0;
    for (JsonNode c : golden.get("cases")) {
      int h = c.get("height").asInt();
      int w = c.get("width").asInt();
      float[] x = pre.fromRgb(SeededWeights.bytes(images, 3 * h * w), h, w);
      System.arraycopy(x, 0, batch, i * x.length, x.length);
      double[] logits = doubles(c.get("logits"));
      System.arraycopy(logits, 0, want, i * logits.length, logits.length);
      double err =
          GradCheck.relError(frozen.forward(Tensor.of(x, 1, 3, 224, 224)).toFloatArray(), logits);
      System.out.printf(
          "frozen resnet18 parity %s: logits relative error %.2e%n", c.get("name").asText(), err);
      assertTrue(err < 1e-4, "frozen " + c.get("name").asText() + ": " + err);
      i++;
    }
    double err =
        GradCheck.relError(
            frozen.forward(Tensor.of(batch, cases, 3, 224, 224)).toFloatArray(), want);
    System.out.printf("frozen resnet18 parity, batch of %d: %.2e%n", cases, err);
    assertTrue(err < 1e-4, "frozen batch: " + err);
  }

  @Test
  void bilinearResizeMatchesInterpolate() {
    Rng rng = new Rng(golden.get("resize_seed").asLong());
    float[] src = new float[3 * 5 * 7];
    for (int i = 0; i < src.length; i++) {
      src[i] = rng.uniform(0f, 1f);
    }
    for (JsonNode r : golden.get("resize")) {
      int oh = r.get("height").asInt();
      int ow = r.get("width").asInt();
      float[] out = Preprocess.resizeBilinear(src, 3, 5, 7, oh, ow);
      double[] want = doubles(r.get("out"));
      assertEquals(want.length, out.length);
      for (int i = 0; i < out.length; i++) {
        assertEquals(want[i], out[i], 1e-6, "resize to " + oh + "x" + ow + " at " + i);
      }
    }
  }

  static double[] doubles(JsonNode a) {
    double[] d = new double[a.size()];
    for (int i = 0; i < d.length; i++) {
      d[i] = a.get(i).asDouble();
    }
    return d;
  }
}

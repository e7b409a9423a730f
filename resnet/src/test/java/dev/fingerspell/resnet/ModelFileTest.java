package dev.fingerspell.resnet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fingerspell.tensor.GradMode;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.tensor.Tensor;
import dev.fingerspell.weights.SafetensorsException;
import dev.fingerspell.weights.SafetensorsFile;
import dev.fingerspell.weights.SafetensorsWriter;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ModelFileTest {
  @TempDir Path dir;

  /** A {@code w × h} image of seeded random colours. */
  static BufferedImage image(int w, int h, long seed) {
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    Rng rng = new Rng(seed);
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        img.setRGB(x, y, (int) (rng.nextLong() >>> 40));
      }
    }
    return img;
  }

  @Test
  void saveLoadKeepsWeightsLabelsAndPreprocessing() {
    ResNet18 m = new ResNet18(29, new Rng(1));
    SeededWeights.fill(m, 3);
    m.eval();
    Path p = dir.resolve("asl.safetensors");
    Preprocess pre =
        new Preprocess(64, new float[] {0.5f, 0.5f, 0.5f}, new float[] {0.25f, 0.5f, 1f});
    ModelFile.save(m, p, new ModelFile.Info(AslLabels.NAMES, pre, "{\"lr\":0.001}"));
    try (SafetensorsFile f = SafetensorsFile.open(p)) {
      Map<String, String> meta = f.metadata();
      assertEquals("[3,64,64]", meta.get("input_size"));
      assertTrue(meta.get("labels").startsWith("[\"A\",\"B\""), meta.get("labels"));
      assertEquals(122, f.tensors().size());
    }
    ModelFile.Loaded l = ModelFile.load(p);
    assertEquals(AslLabels.NAMES, l.info().labels());
    assertEquals(64, l.info().preprocess().size());
    assertArrayEquals(pre.std(), l.info().preprocess().std());
    assertEquals("{\"lr\":0.001}", l.info().config());
    Tensor x = Tensor.randn(new Rng(9), 1, 3, 64, 64);
    try (GradMode g = GradMode.noGrad()) {
      assertArrayEquals(m.forward(x).toFloatArray(), l.model().forward(x).toFloatArray());
    }
  }

  @Test
  void classifierPredictsSortedProbabilities() {
    ResNet18 m = new ResNet18(29, new Rng(1));
    SeededWeights.fill(m, 4);
    Path p = dir.resolve("m.safetensors");
    ModelFile.save(m, p, new ModelFile.Info(AslLabels.NAMES, Preprocess.imagenet(), null));
    AslClassifier asl = AslClassifier.load(p);
    BufferedImage img = image(200, 200, 5);
    List<AslClassifier.Prediction> top = asl.predict(img, 3);
    assertEquals(3, top.size());
    assertTrue(top.get(0).probability() >= top.get(1).probability());
    assertTrue(top.get(1).probability() >= top.get(2).probability());
    assertEquals(AslLabels.NAMES.get(top.get(0).index()), top.get(0).label());
    float[] probs = asl.probabilities(List.of(img));
    double sum = 0;
    for (float v : probs) {
      sum += v;
    }
    assertEquals(1.0, sum, 1e-5);
    assertEquals(probs[top.get(0).index()], top.get(0).probability());
    assertEquals(29, asl.predict(img, 100).size());
  }

  @Test
  void labelsDefaultByClassCount() {
    ResNet18 m = new ResNet18(7, new Rng(1));
    Path p = dir.resolve("seven.safetensors");
    SafetensorsWriter.write(p, SafetensorsWriter.entries(m.stateDict()), Map.of());
    assertEquals(List.of("0", "1", "2", "3", "4", "5", "6"), ModelFile.load(p).info().labels());
    ResNet18 asl = new ResNet18(29, new Rng(1));
    Path q = dir.resolve("asl.safetensors");
    SafetensorsWriter.write(q, SafetensorsWriter.entries(asl.stateDict()), Map.of());
    assertEquals(AslLabels.NAMES, ModelFile.load(q).info().labels());
    assertEquals(224, ModelFile.load(q).info().preprocess().size());
  }

  @Test
  void notAResNetIsOneLine() {
    Path p = dir.resolve("other.safetensors");
    SafetensorsWriter.write(
        p, List.of(SafetensorsWriter.Entry.f32("w", new int[] {1}, new float[1])), Map.of());
    SafetensorsException e = assertThrows(SafetensorsException.class, () -> ModelFile.load(p));
    assertTrue(e.getMessage().contains("not a ResNet18 model"), e.getMessage());
  }

  /**
   * Metadata a model file can carry that does not describe a model (edited by hand, or written by
   * another tool) is one line naming the file and the key, never a stack trace or a model that
   * would compute nonsense.
   */
  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        "labels      | null                    | labels must be a JSON array",
        "labels      | {\"a\":1}             | labels must be a JSON array",
        "labels      | [1,2,3,4,5,6,7]         | labels must be strings",
        "labels      | [null,\"1\",\"2\",\"3\",\"4\",\"5\",\"6\"] | labels must be strings",
        "labels      | [\"a\"                | labels: expected ']' at character 4",
        "input_size  | []                      | input_size must be [3, side, side]",
        "input_size  | [3,64,32]               | input_size must be [3, side, side]",
        "input_size  | [3,0,0]                 | input_size must be [3, side, side]",
        "input_size  | [3,1e30,1e30]           | input_size must be [3, side, side]",
        "input_size  | [3,99999999999,99999999999] | input_size must be [3, side, side]",
        "input_size  | null                    | input_size must be [3, side, side]",
        "input_size  | [3.0,64,64]             | input_size must be [3, side, side]",
        "labels      | [\"a\"]                 | 1 labels for 7 classes",
        "mean        | [0.5,0.5]               | mean must be 3 finite numbers",
        "mean        | [0.5,\"x\",0.5]       | mean must be 3 finite numbers",
        "std         | [0.5,0,0.5]             | std must be 3 positive numbers",
        "std         | [0.5,-1,0.5]            | std must be 3 positive numbers",
        "std         | [1,1,1e999]             | std must be 3 positive numbers",
      })
  void badMetadataIsOneLine(String key, String json, String expected) {
    ResNet18 m = new ResNet18(7, new Rng(1));
    Path p = dir.resolve("edited.safetensors");
    SafetensorsWriter.write(p, SafetensorsWriter.entries(m.stateDict()), Map.of(key, json));
    SafetensorsException e = assertThrows(SafetensorsException.class, () -> ModelFile.load(p));
    assertTrue(e.getMessage().startsWith(p + ": bad model metadata: "), e.getMessage());
    assertTrue(e.getMessage().contains(expected), e.getMessage());
    assertTrue(!e.getMessage().contains("\n"), e.getMessage());
  }
}

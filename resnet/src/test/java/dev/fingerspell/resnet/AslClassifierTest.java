package dev.fingerspell.resnet;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.fingerspell.tensor.Rng;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The embeddable API as a server would use it: one classifier, many threads. */
class AslClassifierTest {
  @TempDir Path dir;

  private static AslClassifier classifier(Path dir) {
    ResNet18 m = new ResNet18(29, new Rng(1));
    SeededWeights.fill(m, 11);
    Path file = dir.resolve("asl.safetensors");
    ModelFile.save(
        m,
        file,
        new ModelFile.Info(
            AslLabels.NAMES,
            new Preprocess(48, Preprocess.IMAGENET_MEAN, Preprocess.IMAGENET_STD),
            null));
    return AslClassifier.load(file);
  }

  /**
   * Four threads sharing one loaded classifier, each asking for its own images over and over, get
   * exactly what one thread gets alone for each image.
   */
  @Test
  void oneClassifierServesManyThreads() throws Exception {
    AslClassifier asl = classifier(dir);
    List<BufferedImage> images = new ArrayList<>();
    List<float[]> alone = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      images.add(
          ModelFileTest.image(40 + 4 * i, 40 + 4 * i, i)); // sizes differ: each is resized to 48
      alone.add(asl.probabilities(List.of(images.get(i))));
    }
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try {
      List<Future<?>> done = new ArrayList<>();
      for (int t = 0; t < 4; t++) {
        int thread = t;
        done.add(
            pool.submit(
                () -> {
                  for (int round = 0; round < 6; round++) {
                    int i = (thread * 3 + round) % images.size();
                    float[] p = asl.probabilities(List.of(images.get(i)));
                    for (int c = 0; c < p.length; c++) {
                      assertEquals(alone.get(i)[c], p[c], "image " + i + " class " + c);
                    }
                  }
                  return null;
                }));
      }
      for (Future<?> f : done) {
        f.get();
      }
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void noImagesGiveNoPredictions() {
    AslClassifier asl = classifier(dir);
    assertEquals(List.of(), asl.predict(List.of(), 3));
    assertEquals(0, asl.probabilities(List.of()).length);
  }
}

package dev.fingerspell.resnet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.fingerspell.tensor.GradMode;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.tensor.Tensor;
import dev.fingerspell.weights.Json;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Java writes a 29-class model and its logits on a seeded image to target/export-check/; the check
 * script then has torchvision load the file strictly and reproduce the logits. The script runs here
 * when Debian's python3-torch is installed (skipped otherwise); by hand it is {@code
 * /usr/bin/python3 resnet/src/test/python/check_export.py target/export-check/asl.safetensors
 * target/export-check/logits.json}.
 */
class ExportRoundTripTest {
  private static final Path PYTHON = Path.of("/usr/bin/python3");

  @Test
  void torchvisionLoadsOurFileStrictlyAndAgrees() throws Exception {
    ResNet18 m = new ResNet18(29, new Rng(1));
    SeededWeights.fill(m, 77);
    m.eval();
    Path dir = Path.of("target", "export-check");
    Files.createDirectories(dir);
    Path model = dir.resolve("asl.safetensors");
    ModelFile.save(m, model, new ModelFile.Info(AslLabels.NAMES, Preprocess.imagenet(), "{}"));

    long seed = 5;
    int h = 200;
    int w = 200;
    byte[] chw = SeededWeights.bytes(new Rng(seed), 3 * h * w);
    AslClassifier loaded = AslClassifier.load(model); // through the file, as a user would
    float[] logits;
    try (GradMode g = GradMode.noGrad()) {
      Tensor x = Tensor.of(loaded.info().preprocess().fromRgb(chw, h, w), 1, 3, 224, 224);
      logits = loaded.model().forward(x).toFloatArray();
    }
    List<Object> values = new ArrayList<>();
    for (float v : logits) {
      values.add(v);
    }
    Map<String, Object> doc = new LinkedHashMap<>();
    doc.put("image_seed", seed);
    doc.put("height", h);
    doc.put("width", w);
    doc.put("logits", values);
    Path logitsFile = dir.resolve("logits.json");
    Files.writeString(logitsFile, Json.write(doc), StandardCharsets.UTF_8);

    assumeTrue(torchAvailable(), "Debian's python3-torch is not installed: check by hand");
    Process p =
        new ProcessBuilder(
                PYTHON.toString(),
                Path.of("src", "test", "python", "check_export.py").toString(),
                model.toString(),
                logitsFile.toString())
            .redirectErrorStream(true)
            .start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    p.waitFor(120, TimeUnit.SECONDS);
    System.out.print(out);
    assertEquals(0, p.exitValue(), out);
  }

  private static boolean torchAvailable() throws IOException, InterruptedException {
    if (!Files.isExecutable(PYTHON)) {
      return false;
    }
    Process p =
        new ProcessBuilder(PYTHON.toString(), "-c", "import torch, torchvision, numpy")
            .redirectErrorStream(true)
            .start();
    p.getInputStream().readAllBytes();
    return p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0;
  }
}

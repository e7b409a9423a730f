package dev.fingerspell.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import dev.fingerspell.resnet.AslLabels;
import dev.fingerspell.resnet.ModelFile;
import dev.fingerspell.resnet.Preprocess;
import dev.fingerspell.resnet.ResNet18;
import dev.fingerspell.tensor.Rng;
import java.awt.image.BufferedImage;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CommandsTest {
  @TempDir static Path dir;
  private static Path model;

  private static CliRun run(Map<String, String> env, String... args) {
    return CliRun.run(env, args);
  }

  private static CliRun run(String... args) {
    return CliRun.run(Map.of(), args);
  }

  @BeforeAll
  static void makeModel() {
    model = dir.resolve("asl.safetensors");
    ResNet18 m = new ResNet18(29, new Rng(1));
    ModelFile.save(m, model, new ModelFile.Info(AslLabels.NAMES, Preprocess.imagenet(), null));
  }

  private static Path png(String name, int w, int h) throws Exception {
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    Rng rng = new Rng(name.hashCode());
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        img.setRGB(x, y, (int) (rng.nextLong() >>> 40));
      }
    }
    Path p = dir.resolve(name);
    ImageIO.write(img, "png", p.toFile());
    return p;
  }

  @Test
  void inspectListsTensorsMetadataAndCounts() {
    CliRun r = run("weights", "inspect", model.toString());
    assertEquals(0, r.status(), r.err());
    assertTrue(r.out().contains("122 tensors, 11,191,389 parameters"), r.out());
    assertTrue(r.out().contains("layer4.1.bn2.running_var"), r.out());
    assertTrue(r.out().contains("labels = [\"A\""), r.out());
  }

  @Test
  void inspectJson() throws Exception {
    CliRun r = run("weights", "inspect", "--json", model.toString());
    assertEquals(0, r.status(), r.err());
    JsonNode j = new ObjectMapper().readTree(r.out());
    assertEquals(122, j.get("tensor_count").asInt());
    assertEquals(122, j.get("tensors").size());
    assertEquals(11_191_389, j.get("parameters").asLong());
    assertEquals("[3,224,224]", j.get("metadata").get("input_size").asText());
  }

  @Test
  void inspectOfAMalformedFileIsOneLineWithoutAStackTrace() throws Exception {
    Path bad = dir.resolve("bad.safetensors");
    Files.write(bad, new byte[] {1, 2, 3});
    CliRun r = run("weights", "inspect", bad.toString());
    assertEquals(1, r.status());
    assertEquals(1, r.err().strip().lines().count(), r.err());
    assertTrue(r.err().startsWith("fingerspell: "), r.err());
    assertTrue(r.err().contains("header too small"), r.err());
    assertFalse(r.err().contains("at dev.fingerspell"), r.err());
  }

  @Test
  void predictJsonKeepsGoingPastABadFile() throws Exception {
    Path a = png("a.png", 200, 200);
    Path b = png("b.png", 224, 224);
    Path notImage = dir.resolve("notes.txt");
    Files.writeString(notImage, "hello");
    CliRun r =
        run(
            "predict",
            "--model",
            model.toString(),
            "--top-k",
            "5",
            "--json",
            a.toString(),
            notImage.toString(),
            b.toString());
    assertEquals(1, r.status(), "non-zero at the end when one input failed");
    assertTrue(r.err().contains("notes.txt: not an image"), r.err());
    String[] lines = r.out().strip().split("\n");
    assertEquals(2, lines.length, r.out());
    ObjectMapper mapper = new ObjectMapper();
    JsonNode first = mapper.readTree(lines[0]);
    assertEquals(a.toString(), first.get("image").asText());
    JsonNode preds = first.get("predictions");
    assertEquals(5, preds.size());
    for (int i = 1; i < preds.size(); i++) {
      assertTrue(
          preds.get(i - 1).get("probability").asDouble()
              >= preds.get(i).get("probability").asDouble());
    }
    JsonNode top = preds.get(0);
    assertEquals(AslLabels.NAMES.get(top.get("index").asInt()), top.get("label").asText());
    assertEquals(b.toString(), mapper.readTree(lines[1]).get("image").asText());
  }

  @Test
  void predictTextAndAllGood() throws Exception {
    Path a = png("c.png", 64, 48);
    CliRun r = run("predict", "--model", model.toString(), a.toString());
    assertEquals(0, r.status(), r.err());
    assertTrue(r.out().startsWith(a + ":"), r.out());
  }

  @Test
  void predictWithAMissingModelIsOneLine() {
    CliRun r = run("predict", "--model", dir.resolve("none.safetensors").toString(), "x.png");
    assertEquals(1, r.status());
    assertTrue(r.err().contains("no such file"), r.err());
    assertEquals(1, r.err().strip().lines().count(), r.err());
  }

  @Test
  void fetchDownloadsFromTheHubTheEnvironmentNames() throws Exception {
    byte[] file = Files.readAllBytes(model);
    HttpServer server =
        HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.createContext(
        "/timm/resnet18.a1_in1k/resolve/main/model.safetensors",
        ex -> {
          try (ex) {
            ex.sendResponseHeaders(200, file.length);
            ex.getResponseBody().write(file);
          }
        });
    server.start();
    try {
      Path out = dir.resolve("fetched.safetensors");
      Map<String, String> env =
          Map.of(
              "HF_ENDPOINT",
              "http://127.0.0.1:" + server.getAddress().getPort(),
              "FINGERSPELL_HOME",
              dir.resolve("home").toString());
      CliRun r =
          run(env, "weights", "fetch", "hf://timm/resnet18.a1_in1k", "--out", out.toString());
      assertEquals(0, r.status(), r.err());
      assertEquals(out.toString(), r.out().strip());
      assertEquals(file.length, Files.size(out));
      assertTrue(Files.exists(dir.resolve("home/hub/timm--resnet18.a1_in1k/model.safetensors")));
      CliRun missing = run(env, "weights", "fetch", "hf://timm/other");
      assertEquals(1, missing.status());
      assertTrue(missing.err().contains("HTTP 404"), missing.err());
    } finally {
      server.stop(0);
    }
  }
}

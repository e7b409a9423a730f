package dev.fingerspell.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import dev.fingerspell.resnet.AslLabels;
import dev.fingerspell.resnet.ImageFiles;
import dev.fingerspell.tensor.Backends;
import dev.fingerspell.tensor.Device;
import java.awt.image.BufferedImage;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
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
    model = Fixtures.randomModel(dir.resolve("asl.safetensors"), 1, 224);
  }

  private static Path png(String name, int w, int h) throws Exception {
    return Files.write(dir.resolve(name), Fixtures.noisePng(name.hashCode(), w, h));
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
    // a folder given as a model file: the JDK's reason would be "No such device"
    CliRun folder = run("weights", "inspect", dir.toString());
    assertEquals(1, folder.status());
    assertEquals(
        "fingerspell: " + dir + ": a folder, not a safetensors file", folder.err().strip());
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

  /**
   * More images than one batch of 16, with a missing file and a damaged PNG among them: every good
   * image gets its line, in order and with the result it gets alone; each bad one is one line on
   * stderr, and the status says something failed.
   */
  @Test
  void predictOverSeveralBatchesKeepsOrderAndReportsEachBadFile() throws Exception {
    List<String> args =
        new ArrayList<>(List.of("predict", "--model", model.toString(), "--top-k", "2"));
    List<Path> good = new ArrayList<>();
    for (int i = 0; i < 17; i++) {
      good.add(png("batch" + i + ".png", 40 + i, 30));
    }
    Path damaged = dir.resolve("damaged.png");
    byte[] whole = Files.readAllBytes(good.get(0));
    Files.write(damaged, Arrays.copyOf(whole, whole.length / 2));
    Path missing = dir.resolve("missing.png");
    for (int i = 0; i < good.size(); i++) {
      args.add(good.get(i).toString());
      if (i == 3) {
        args.add(missing.toString());
      }
      if (i == 15) {
        args.add(damaged.toString());
      }
    }
    CliRun r = run(args.toArray(String[]::new));
    assertEquals(1, r.status(), r.err());
    List<String> errors = r.err().strip().lines().toList();
    assertEquals(2, errors.size(), r.err());
    assertEquals("fingerspell: " + missing + ": no such file", errors.get(0));
    assertTrue(errors.get(1).startsWith("fingerspell: " + damaged + ": "), errors.get(1));
    List<String> lines = r.out().strip().lines().toList();
    assertEquals(good.size(), lines.size(), r.out());
    for (int i = 0; i < good.size(); i++) {
      assertTrue(lines.get(i).startsWith(good.get(i) + ":"), lines.get(i));
    }
    for (int i : new int[] {0, 16}) { // the first batch's first image, and the second batch's only
      CliRun alone =
          run("predict", "--model", model.toString(), "--top-k", "2", good.get(i).toString());
      String[] batched = lines.get(i).split("\\s+");
      String[] single = alone.out().strip().split("\\s+");
      assertEquals(5, batched.length, lines.get(i)); // "path: label p label p"
      for (int t = 0; t < 5; t++) { // labels the same; a batch may round differently in its digits
        if (t == 2 || t == 4) {
          assertEquals(Double.parseDouble(single[t]), Double.parseDouble(batched[t]), 2e-4);
        } else {
          assertEquals(single[t], batched[t], lines.get(i) + " alone: " + alone.out());
        }
      }
    }
  }

  /**
   * A folder stands for its images, by file name, other files and sub-folders passed over; a folder
   * without images is one line and makes the status 1, the others still predicted.
   */
  @Test
  void predictTakesAFolderAsItsImages() throws Exception {
    Path photos = Files.createDirectories(dir.resolve("photos"));
    Path empty = Files.createDirectories(dir.resolve("no-photos"));
    Files.createDirectories(photos.resolve("sub"));
    Files.writeString(photos.resolve("notes.txt"), "not an image");
    Path b = png("b.png", 50, 40);
    Path a = png("a.png", 40, 50);
    Files.copy(b, photos.resolve("2.png"));
    Files.copy(a, photos.resolve("1.png"));
    Files.copy(a, photos.resolve("sub").resolve("3.png"));
    CliRun r = run("predict", "--model", model.toString(), photos.toString(), empty.toString());
    assertEquals(1, r.status(), r.err());
    assertEquals(
        "fingerspell: " + empty + ": a folder with no images (JPEG, PNG, BMP, GIF, TIFF)",
        r.err().strip());
    List<String> lines = r.out().strip().lines().toList();
    assertEquals(2, lines.size(), r.out());
    assertTrue(lines.get(0).startsWith(photos.resolve("1.png") + ":"), lines.get(0));
    assertTrue(lines.get(1).startsWith(photos.resolve("2.png") + ":"), lines.get(1));
  }

  /**
   * With the default device and no GPU, a few images go through ND4J's convolutions (a cold JVM
   * finishes them sooner), more than {@link DeviceOption#FEW_IMAGES} through the pure-Java kernels;
   * {@code --device cpu} keeps the pure-Java ones. The answers are the same.
   */
  @Test
  void predictTakesNd4jForAFewImagesByDefault() throws Exception {
    Path small = Fixtures.randomModel(dir.resolve("small.safetensors"), 2, 32);
    Path many = Files.createDirectories(dir.resolve("many"));
    for (int i = 0; i <= DeviceOption.FEW_IMAGES; i++) {
      Files.write(many.resolve(String.format("%03d.png", i)), Fixtures.noisePng(i, 8, 8));
    }
    Path one = many.resolve("000.png");
    try {
      PredictCommand predict = new PredictCommand();
      new picocli.CommandLine(predict); // injects the option's command, as a run of predict does
      DeviceOption device = predict.device;
      device.device = "auto";
      device.apply(1);
      assertEquals("nd4j", Backends.forDevice(Device.CPU).name());
      device.apply(DeviceOption.FEW_IMAGES + 1);
      assertEquals("cpu", Backends.forDevice(Device.CPU).name());
      device.device = "cpu";
      device.apply(1);
      assertEquals("cpu", Backends.forDevice(Device.CPU).name());
    } finally {
      Backends.useDevice((Device) null);
    }
    CliRun auto = run("predict", "--model", small.toString(), one.toString());
    assertEquals(0, auto.status(), auto.err());
    CliRun cpu = run("predict", "--device", "cpu", "--model", small.toString(), one.toString());
    assertEquals(cpu.out(), auto.out());
    CliRun all = run("predict", "--model", small.toString(), many.toString());
    assertEquals(0, all.status(), all.err());
    assertEquals(DeviceOption.FEW_IMAGES + 1, all.out().strip().lines().count());
  }

  /**
   * A photo stored turned, with the EXIF orientation that says so (a PNG's eXIf chunk here), is
   * predicted as the upright picture is; the same pixels without the tag are not. A file no reader
   * knows is one line naming it.
   */
  @Test
  void predictTurnsAPhotoUprightByItsExifOrientation() throws Exception {
    Path upright = png("upright.png", 40, 56);
    // stored turned 90° counter-clockwise; orientation 6 says to turn it clockwise to show it
    BufferedImage stored = ImageFiles.upright(ImageIO.read(upright.toFile()), 8);
    Path plain = dir.resolve("stored.png");
    ImageIO.write(stored, "png", plain.toFile());
    Path tagged = dir.resolve("tagged.png");
    Files.write(tagged, withExifOrientation(Files.readAllBytes(plain), 6));
    Path text = dir.resolve("notes.jpg");
    Files.writeString(text, "not an image");
    CliRun r =
        run(
            "predict",
            "--model",
            model.toString(),
            "--json",
            "--top-k",
            "29",
            upright.toString(),
            tagged.toString(),
            plain.toString(),
            text.toString());
    assertEquals(1, r.status(), r.err());
    assertEquals(
        "fingerspell: " + text + ": not an image this reader knows (JPEG, PNG, BMP, GIF, TIFF)",
        r.err().strip());
    List<String> lines = r.out().strip().lines().toList();
    assertEquals(3, lines.size(), r.out());
    ObjectMapper mapper = new ObjectMapper();
    JsonNode shown = mapper.readTree(lines.get(0)).get("predictions");
    assertEquals(shown, mapper.readTree(lines.get(1)).get("predictions"));
    assertFalse(shown.equals(mapper.readTree(lines.get(2)).get("predictions")));
  }

  /** A PNG file with an eXIf chunk (after IHDR) whose first IFD holds only the orientation. */
  private static byte[] withExifOrientation(byte[] png, int orientation) {
    java.nio.ByteBuffer exif = java.nio.ByteBuffer.allocate(8 + 2 + 12 + 4);
    exif.put((byte) 'M').put((byte) 'M').putShort((short) 42).putInt(8).putShort((short) 1);
    exif.putShort((short) 0x0112).putShort((short) 3).putInt(1);
    exif.putShort((short) orientation).putShort((short) 0).putInt(0);
    java.nio.ByteBuffer chunk = java.nio.ByteBuffer.allocate(12 + exif.capacity());
    chunk.putInt(exif.capacity()).put("eXIf".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
    chunk.put(exif.array());
    java.util.zip.CRC32 crc = new java.util.zip.CRC32();
    crc.update(chunk.array(), 4, 4 + exif.capacity());
    chunk.putInt((int) crc.getValue());
    int ihdrEnd = 8 + 12 + 13; // signature, then IHDR's length, type, 13 bytes of data and CRC
    byte[] out = new byte[png.length + chunk.capacity()];
    System.arraycopy(png, 0, out, 0, ihdrEnd);
    System.arraycopy(chunk.array(), 0, out, ihdrEnd, chunk.capacity());
    System.arraycopy(png, ihdrEnd, out, ihdrEnd + chunk.capacity(), png.length - ihdrEnd);
    return out;
  }

  /** "-" reads one image from standard input (curl ... | fingerspell predict --model m -). */
  @Test
  void predictReadsAnImageFromStandardInput() throws Exception {
    Path a = png("piped.png", 50, 40);
    CliRun file = run("predict", "--model", model.toString(), a.toString());
    CliRun piped =
        CliRun.run(Files.readAllBytes(a), Map.of(), "predict", "--model", model.toString(), "-");
    assertEquals(0, piped.status(), piped.err());
    assertEquals(file.out().strip().replace(a + ":", "-:"), piped.out().strip());
    CliRun junk =
        CliRun.run(
            "not an image".getBytes(), Map.of(), "predict", "--model", model.toString(), "-");
    assertEquals(1, junk.status());
    assertEquals(
        "fingerspell: -: not an image this reader knows (JPEG, PNG, BMP, GIF, TIFF)",
        junk.err().strip());
    CliRun address = run("predict", "--model", model.toString(), "https://example.com/hand.jpg");
    assertEquals(
        "fingerspell: https://example.com/hand.jpg: addresses are not fetched; pipe the image in:"
            + " curl -s ADDRESS | fingerspell predict --model FILE -",
        address.err().strip());
    CliRun mixed = run("predict", "--model", model.toString(), "-", a.toString());
    assertEquals(1, mixed.status());
    assertTrue(
        mixed.err().contains("'-' (an image on standard input) must be the only"), mixed.err());
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
              dir.resolve("home").toString(),
              "HF_HOME", // not this machine's huggingface_hub cache, which may hold the file
              dir.resolve("no-hf").toString());
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

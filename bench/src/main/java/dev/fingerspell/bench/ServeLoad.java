package dev.fingerspell.bench;

import dev.fingerspell.resnet.AslLabels;
import dev.fingerspell.resnet.ModelFile;
import dev.fingerspell.resnet.Preprocess;
import dev.fingerspell.resnet.ResNet18;
import dev.fingerspell.tensor.Rng;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import javax.imageio.ImageIO;

/**
 * {@code bench/serve-compare}'s model, image and load: the same HTTP load on Fingerspell's service
 * and on a FastAPI one ({@code bench/python/serve.py}).
 *
 * <pre>
 *   fixtures DIR                         DIR/model.safetensors (seeded ResNet18, 29 classes, 224²)
 *                                        and DIR/hand.jpg (200×200, as the Kaggle images are)
 *   load URL IMAGE CLIENTS SECONDS       CLIENTS clients, each posting IMAGE as the form's 'file'
 *                                        and waiting for the answer, again and again; after 5 s of
 *                                        warm-up prints images/s and the median and 95th-percentile
 *                                        latency
 * </pre>
 */
public final class ServeLoad {
  private ServeLoad() {}

  /** Runs the step named by the first argument. */
  public static void main(String[] args) throws Exception {
    switch (args[0]) {
      case "fixtures" -> fixtures(Path.of(args[1]));
      case "load" ->
          load(
              URI.create(args[1]),
              Files.readAllBytes(Path.of(args[2])),
              Integer.parseInt(args[3]),
              Double.parseDouble(args[4]));
      default -> throw new IllegalArgumentException("unknown step " + args[0]);
    }
  }

  private static void fixtures(Path dir) throws IOException {
    Files.createDirectories(dir);
    ModelFile.save(
        new ResNet18(29, new Rng(42)),
        dir.resolve("model.safetensors"),
        new ModelFile.Info(AslLabels.NAMES, Preprocess.imagenet(), null));
    BufferedImage img = new BufferedImage(200, 200, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < 200; y++) {
      for (int x = 0; x < 200; x++) { // a smooth picture compresses as a photo does
        img.setRGB(x, y, (x * 255 / 199) << 16 | (y * 255 / 199) << 8 | ((x + y) * 255 / 398));
      }
    }
    ImageIO.write(img, "jpg", dir.resolve("hand.jpg").toFile());
  }

  private static final String BOUNDARY = "fingerspell-load-boundary";

  private static void load(URI url, byte[] image, int clients, double seconds) throws Exception {
    ByteArrayOutputStream form = new ByteArrayOutputStream();
    form.writeBytes(
        ("--"
                + BOUNDARY
                + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"hand.jpg\""
                + "\r\nContent-Type: image/jpeg\r\n\r\n")
            .getBytes(StandardCharsets.UTF_8));
    form.writeBytes(image);
    form.writeBytes(("\r\n--" + BOUNDARY + "--\r\n").getBytes(StandardCharsets.UTF_8));
    HttpRequest request =
        HttpRequest.newBuilder(url)
            .header("Content-Type", "multipart/form-data; boundary=" + BOUNDARY)
            .timeout(Duration.ofSeconds(60))
            .POST(HttpRequest.BodyPublishers.ofByteArray(form.toByteArray()))
            .build();
    HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    long warmEnd = System.nanoTime() + 5_000_000_000L;
    long end = warmEnd + (long) (seconds * 1e9);
    List<Long> latencies = Collections.synchronizedList(new ArrayList<>());
    AtomicLong failures = new AtomicLong();
    try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
      for (int c = 0; c < clients; c++) {
        pool.submit(
            () -> {
              while (true) {
                long start = System.nanoTime();
                if (start >= end) {
                  return null;
                }
                HttpResponse<String> r = http.send(request, HttpResponse.BodyHandlers.ofString());
                long done = System.nanoTime();
                if (r.statusCode() != 200 || !r.body().contains("\"predictions\"")) {
                  failures.incrementAndGet();
                } else if (start >= warmEnd && done <= end) {
                  latencies.add(done - start);
                }
              }
            });
      }
    }
    List<Long> sorted = new ArrayList<>(latencies);
    Collections.sort(sorted);
    if (sorted.isEmpty() || failures.get() > 0) {
      throw new IllegalStateException(
          failures.get() + " failed requests, " + sorted.size() + " answered in time");
    }
    System.out.printf(
        Locale.ROOT,
        "load clients=%d images/s=%.2f p50_ms=%.1f p95_ms=%.1f value=%.4f%n",
        clients,
        sorted.size() / seconds,
        sorted.get(sorted.size() / 2) / 1e6,
        sorted.get((int) (sorted.size() * 0.95)) / 1e6,
        sorted.size() / seconds);
  }
}

package dev.fingerspell.train.serve;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.IntSupplier;

/**
 * What the service has done, in Prometheus' text format ({@code GET /metrics}): requests by path
 * and status, request durations as a histogram, images classified and refused, batches and the time
 * the network took, the images waiting now.
 */
final class ServiceMetrics {
  /** Upper bounds of the duration histogram's buckets, in seconds. */
  static final double[] BUCKETS = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

  private final Map<String, LongAdder> requests = new ConcurrentHashMap<>();
  private final LongAdder[] durationBuckets = new LongAdder[BUCKETS.length + 1];
  private final LongAdder durationNanos = new LongAdder();
  private final LongAdder durationCount = new LongAdder();
  private final LongAdder imagesClassified = new LongAdder();
  private final LongAdder imagesUndecodable = new LongAdder();
  private final LongAdder batches = new LongAdder();
  private final LongAdder batchNanos = new LongAdder();
  private final long startNanos = System.nanoTime();
  private IntSupplier waiting = () -> 0;

  ServiceMetrics() {
    for (int i = 0; i < durationBuckets.length; i++) {
      durationBuckets[i] = new LongAdder();
    }
  }

  /** Where the gauge of waiting images reads from. */
  void waiting(IntSupplier waiting) {
    this.waiting = waiting;
  }

  /** A request answered: its route ({@code /predict}, or {@code other}), status and duration. */
  void request(String route, int status, long nanos) {
    requests.computeIfAbsent(route + " " + status, k -> new LongAdder()).increment();
    double seconds = nanos / 1e9;
    int b = 0;
    while (b < BUCKETS.length && seconds > BUCKETS[b]) {
      b++;
    }
    durationBuckets[b].increment();
    durationNanos.add(nanos);
    durationCount.increment();
  }

  /** A pass of the network over {@code images} images. */
  void batch(int images, long nanos) {
    batches.increment();
    imagesClassified.add(images);
    batchNanos.add(nanos);
  }

  /** An uploaded file that did not decode as an image. */
  void undecodable() {
    imagesUndecodable.increment();
  }

  /** The exposition text. */
  String text() {
    StringBuilder b = new StringBuilder();
    header(
        b, "fingerspell_requests_total", "counter", "HTTP requests answered, by path and status");
    new TreeMap<>(requests)
        .forEach(
            (key, n) -> {
              int space = key.lastIndexOf(' ');
              b.append("fingerspell_requests_total{path=\"")
                  .append(key, 0, space)
                  .append("\",status=\"")
                  .append(key.substring(space + 1))
                  .append("\"} ")
                  .append(n.sum())
                  .append('\n');
            });
    header(b, "fingerspell_request_duration_seconds", "histogram", "Time from request to response");
    long cumulative = 0;
    for (int i = 0; i <= BUCKETS.length; i++) {
      cumulative += durationBuckets[i].sum();
      b.append("fingerspell_request_duration_seconds_bucket{le=\"")
          .append(i < BUCKETS.length ? Double.toString(BUCKETS[i]) : "+Inf")
          .append("\"} ")
          .append(cumulative)
          .append('\n');
    }
    line(b, "fingerspell_request_duration_seconds_sum", durationNanos.sum() / 1e9);
    line(b, "fingerspell_request_duration_seconds_count", durationCount.sum());
    header(b, "fingerspell_images_total", "counter", "Images classified, and uploads undecodable");
    b.append("fingerspell_images_total{outcome=\"classified\"} ")
        .append(imagesClassified.sum())
        .append('\n');
    b.append("fingerspell_images_total{outcome=\"undecodable\"} ")
        .append(imagesUndecodable.sum())
        .append('\n');
    header(b, "fingerspell_batches_total", "counter", "Passes of the network");
    line(b, "fingerspell_batches_total", batches.sum());
    header(b, "fingerspell_inference_seconds_total", "counter", "Time the passes took");
    line(b, "fingerspell_inference_seconds_total", batchNanos.sum() / 1e9);
    header(b, "fingerspell_waiting_images", "gauge", "Images queued for the next pass");
    line(b, "fingerspell_waiting_images", waiting.getAsInt());
    header(b, "fingerspell_uptime_seconds", "gauge", "Seconds since the service started");
    line(b, "fingerspell_uptime_seconds", (System.nanoTime() - startNanos) / 1e9);
    return b.toString();
  }

  private static void header(StringBuilder b, String name, String type, String help) {
    b.append("# HELP ").append(name).append(' ').append(help).append('\n');
    b.append("# TYPE ").append(name).append(' ').append(type).append('\n');
  }

  private static void line(StringBuilder b, String name, double value) {
    b.append(name).append(' ');
    if (value == Math.rint(value) && Math.abs(value) < 1e15) {
      b.append((long) value);
    } else {
      b.append(value);
    }
    b.append('\n');
  }
}

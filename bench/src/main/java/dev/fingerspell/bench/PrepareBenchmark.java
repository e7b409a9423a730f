package dev.fingerspell.bench;

import dev.fingerspell.train.data.DataPrepare;
import dev.fingerspell.train.data.Folders;
import dev.fingerspell.train.data.SynthData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * {@code data prepare} on 29 × 40 = 1,160 synthetic 200×200 JPEGs in the Kaggle layout: decode,
 * resize to 224, hash, shard and write, with one decoding thread and with every core. Images per
 * second = 1,160 / time; the ratio of the two is the parallel speed-up. Shards are written on their
 * own threads in both (one writer for up to two decoding threads), so on two cores the one-thread
 * run already has the second core for writing.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 6) // a run is about a second; two warm-ups left JIT and disk noise of ±80%
@Measurement(iterations = 8)
@Fork(
    value = 1,
    jvmArgsAppend = {"-Xmx2g"})
public class PrepareBenchmark {
  /** Images drawn per class. */
  public static final int PER_CLASS = 40;

  /** Decoding threads: 1, or 0 for every core. */
  @Param({"1", "0"})
  public int threads;

  private Path source;
  private Path out;

  /** Draws the source images once. */
  @Setup(Level.Trial)
  public void setup() throws IOException {
    source = Files.createTempDirectory("fingerspell-prepare-src");
    SynthData.write(source, PER_CLASS, 7);
  }

  /** A fresh output folder per run. */
  @Setup(Level.Invocation)
  public void freshOut() throws IOException {
    out = Files.createTempDirectory("fingerspell-prepare-out");
  }

  /** One preparation. */
  @Benchmark
  public Path prepare() {
    int n = threads == 0 ? Runtime.getRuntime().availableProcessors() : threads;
    return DataPrepare.run(
        new DataPrepare.Options(source, out, 224, 0.1, 42, 512, n), DataPrepare.NO_PROGRESS);
  }

  /** Removes the output. */
  @TearDown(Level.Invocation)
  public void removeOut() throws IOException {
    Folders.deleteTree(out);
  }

  /** Removes the source. */
  @TearDown(Level.Trial)
  public void removeSource() throws IOException {
    Folders.deleteTree(source);
  }
}

package dev.fingerspell.train;

import dev.fingerspell.weights.WeightFetch;
import java.io.PrintStream;
import me.tongfei.progressbar.ProgressBar;

/** A download progress bar on stderr (a library's: me.tongfei.progressbar). */
final class ConsoleProgress implements WeightFetch.Progress {
  private final PrintStream stream;
  private ProgressBar bar;

  ConsoleProgress(PrintStream stream) {
    this.stream = stream;
  }

  @Override
  public void start(String what, long total, long done) {
    bar = Bars.bar(stream, what, total, " MB", 1_000_000, done);
  }

  @Override
  public void advance(long bytes) {
    if (bar != null) {
      bar.stepBy(bytes);
    }
  }

  @Override
  public void finish() {
    if (bar != null) {
      bar.close();
      bar = null;
    }
  }
}

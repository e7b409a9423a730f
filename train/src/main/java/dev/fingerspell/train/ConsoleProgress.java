package dev.fingerspell.train;

import dev.fingerspell.weights.WeightFetch;
import java.io.PrintStream;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/** A download progress bar on stderr (a library's: me.tongfei.progressbar). */
final class ConsoleProgress implements WeightFetch.Progress {
  private final PrintStream stream;
  private ProgressBar bar;

  ConsoleProgress(PrintStream stream) {
    this.stream = stream;
  }

  @Override
  public void start(String what, long total, long done) {
    bar =
        new ProgressBarBuilder()
            .setTaskName(what.length() > 32 ? "…" + what.substring(what.length() - 31) : what)
            .setInitialMax(total)
            .setUnit(" MB", 1_000_000)
            .setStyle(ProgressBarStyle.ASCII)
            .setConsumer(new ConsoleProgressBarConsumer(stream))
            .startsFrom(done, java.time.Duration.ZERO)
            .build();
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

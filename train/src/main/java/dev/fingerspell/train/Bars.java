package dev.fingerspell.train;

import dev.fingerspell.train.data.DataPrepare;
import dev.fingerspell.train.training.Trainer;
import java.io.PrintStream;
import java.io.PrintWriter;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * Progress bars on stderr (me.tongfei.progressbar) for data preparation and training, with the live
 * training loss; notices go to the command's output. Bars are drawn only on a terminal.
 */
final class Bars implements Trainer.Listener, DataPrepare.Progress {
  private final PrintWriter out;
  private final PrintStream err;
  private final boolean enabled;
  private ProgressBar bar;

  Bars(PrintWriter out, PrintStream err, boolean enabled) {
    this.out = out;
    this.err = err;
    this.enabled = enabled;
  }

  /** Bars when stdout is a terminal. */
  static Bars forConsole(PrintWriter out) {
    return new Bars(out, System.err, System.console() != null);
  }

  @Override
  public void notice(String line) {
    out.println(line);
    out.flush();
  }

  @Override
  public void phase(String what, long steps) {
    if (!enabled) {
      return;
    }
    bar = bar(err, what, steps, " img", 1, 0);
  }

  /** A bar on {@code stream}: every bar of the command line looks alike. */
  static ProgressBar bar(
      PrintStream stream, String task, long total, String unit, long unitSize, long done) {
    return new ProgressBarBuilder()
        .setTaskName(task.length() > 32 ? "…" + task.substring(task.length() - 31) : task)
        .setInitialMax(total)
        .setUnit(unit, unitSize)
        .setStyle(ProgressBarStyle.ASCII)
        .setConsumer(new ConsoleProgressBarConsumer(stream))
        .setUpdateIntervalMillis(250)
        .startsFrom(done, java.time.Duration.ZERO)
        .build();
  }

  @Override
  public synchronized void step(long n, double loss) {
    if (bar != null) {
      bar.stepBy(n);
      if (!Double.isNaN(loss)) {
        bar.setExtraMessage(String.format(" loss %.4f", loss));
      }
    }
  }

  @Override
  public void endPhase() {
    if (bar != null) {
      bar.close();
      bar = null;
    }
  }

  @Override
  public void start(long total) {
    phase("decoding", total);
  }

  @Override
  public void step() {
    step(1, Double.NaN);
  }

  @Override
  public void finish() {
    endPhase();
  }
}

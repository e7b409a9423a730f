package dev.fingerspell.train;

import dev.fingerspell.tensor.Backend;
import dev.fingerspell.weights.IoErrors;
import java.io.InputStream;
import java.io.PrintWriter;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code fingerspell} command line. Subcommands are added here as they land. */
@Command(
    name = "fingerspell",
    mixinStandardHelpOptions = true,
    versionProvider = Main.Version.class,
    description =
        "Train, evaluate and use an American Sign Language alphabet classifier (ResNet18) on a"
            + " deep-learning engine written in Java.",
    subcommands = {
      DemoCommand.class,
      DataCommand.class,
      TrainCommand.class,
      RunsCommand.class,
      EvaluateCommand.class,
      PredictCommand.class,
      ServeCommand.class,
      WeightsCommand.class,
      CacheCommand.class,
      Main.Backends.class,
      CommandLine.HelpCommand.class
    })
public final class Main implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  private Cli cli;

  /** The streams and environment of this run. */
  Cli cli() {
    return cli;
  }

  /** Runs the command line and exits with its status. */
  public static void main(String[] args) {
    PrintWriter out = new PrintWriter(System.out, true);
    PrintWriter err = new PrintWriter(System.err, true);
    int status = run(args, out, err);
    out.flush(); // print() does not flush by itself
    err.flush();
    System.exit(status);
  }

  /** Runs the command line with the given streams and returns the exit status (for tests). */
  public static int run(String[] args, PrintWriter out, PrintWriter err) {
    return run(args, out, err, System.getenv());
  }

  /** As {@link #run(String[], PrintWriter, PrintWriter)}, with an explicit environment. */
  public static int run(String[] args, PrintWriter out, PrintWriter err, Map<String, String> env) {
    return run(args, System.in, out, err, env);
  }

  /** As {@link #run(String[], PrintWriter, PrintWriter, Map)}, with an explicit standard input. */
  public static int run(
      String[] args, InputStream in, PrintWriter out, PrintWriter err, Map<String, String> env) {
    Main main = new Main();
    main.cli = new Cli(in, out, err, env);
    CommandLine cli = new CommandLine(main);
    cli.setOut(out);
    cli.setErr(err);
    // A user's mistake or a failed operation is one line on stderr, never a stack trace.
    cli.setExecutionExceptionHandler(
        (e, commandLine, parseResult) -> {
          commandLine.getErr().println("fingerspell: " + IoErrors.describe(e));
          if (Boolean.getBoolean("fingerspell.debug")) {
            e.printStackTrace(new PrintWriter(commandLine.getErr(), true));
          }
          return 1;
        });
    try {
      return cli.execute(args);
    } catch (OutOfMemoryError e) { // an Error, which picocli's handler above never sees
      err.println("fingerspell: " + outOfMemory(e, Runtime.getRuntime().maxMemory()));
      return 1;
    }
  }

  /** What to do when the heap ran out, in one line. */
  static String outOfMemory(OutOfMemoryError e, long maxHeapBytes) {
    return "out of memory ("
        + e.getMessage()
        + "; Java may use "
        + maxHeapBytes / (1024 * 1024)
        + " MB here): use a smaller train.batch_size, or let Java use more with"
        + " FINGERSPELL_JAVA_OPTS=-Xmx<size> (for example -Xmx16g)";
  }

  @Override
  public Integer call() {
    spec.commandLine().usage(spec.commandLine().getOut());
    return 0;
  }

  /** The version from the build, plus the runtime it runs on. */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      return new String[] {
        "fingerspell " + BuildVersion.get(),
        "Java " + Runtime.version() + " (" + System.getProperty("java.vendor") + ")"
      };
    }
  }

  /** Lists the compute backends on the class path and whether each can run here. */
  @Command(
      name = "backends",
      mixinStandardHelpOptions = true,
      description = "List the compute backends found and which one is the default.")
  static final class Backends implements Callable<Integer> {
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
      PrintWriter out = spec.commandLine().getOut();
      Backend chosen =
          dev.fingerspell.tensor.Backends.forDevice(
              dev.fingerspell.tensor.Backends.defaultDevice());
      for (Backend b : dev.fingerspell.tensor.Backends.all()) {
        String note =
            b == chosen
                ? "  (default)"
                // below the pure-Java backend: taken only when named (nd4j)
                : b.priority() < 0 && b.isAvailable() ? "  (--device " + b.name() + ")" : "";
        out.printf(
            "%-6s %-10s priority %d%s%n",
            b.name(), b.isAvailable() ? "available" : "unavailable", b.priority(), note);
        String detail = b.isAvailable() ? b.describe() : b.unavailableReason();
        if (!detail.isEmpty()) {
          out.println("       " + detail);
        }
      }
      return 0;
    }
  }
}

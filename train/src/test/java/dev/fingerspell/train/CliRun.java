package dev.fingerspell.train;

import dev.fingerspell.tensor.Backends;
import dev.fingerspell.tensor.Device;
import java.io.ByteArrayInputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.Map;

/**
 * One run of the command line in the test's JVM, as a user would type it: exit status, standard
 * output and standard error.
 */
record CliRun(int status, String out, String err) {
  /** Runs {@code args} with {@code env} as the environment and nothing on standard input. */
  static CliRun run(Map<String, String> env, String... args) {
    return run(new byte[0], env, args);
  }

  /** Runs {@code args} with {@code stdin} on standard input. */
  static CliRun run(byte[] stdin, Map<String, String> env, String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int status;
    try {
      status =
          Main.run(
              args,
              new ByteArrayInputStream(stdin),
              new PrintWriter(out, true),
              new PrintWriter(err, true),
              env);
    } finally {
      // a command's device choice (predict of a few images takes nd4j) lasts for the JVM, which
      // here is every test's
      Backends.useDevice((Device) null);
    }
    return new CliRun(status, out.toString(), err.toString());
  }
}

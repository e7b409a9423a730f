package dev.fingerspell.tensor;

import java.io.File;
import java.io.IOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A class's {@code main} in a JVM of its own, on this test's class path, with the options the
 * build's JVMs get plus {@code jvmOptions}: for what only a fresh JVM shows (its options, a
 * process's exit, its signals).
 */
public final class OwnJvm {
  private static final String INCUBATOR_WARNING =
      "WARNING: Using incubator modules: jdk.incubator.vector" + System.lineSeparator();

  private OwnJvm() {}

  /**
   * What a finished JVM left: its exit status and its stdout and stderr, merged, less the line the
   * JVM prints for the Vector API's module ({@code WARNING: Using incubator modules: ...}).
   */
  public record Result(int status, String output) {}

  /** The process, not started. */
  public static ProcessBuilder builder(List<String> jvmOptions, Class<?> main, String... args) {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.add("--add-modules=jdk.incubator.vector");
    command.add("--enable-native-access=ALL-UNNAMED");
    command.addAll(jvmOptions);
    command.addAll(List.of("-cp", classPath(main)));
    command.add(main.getName());
    command.addAll(List.of(args));
    return new ProcessBuilder(command);
  }

  /**
   * Where {@code main} and what it uses were loaded from: the JVM's class path, after the jars of
   * the loader a launcher made for them (JUnit's console launcher takes the tests' class path as
   * {@code --class-path} and keeps only its own jar on the JVM's).
   */
  private static String classPath(Class<?> main) {
    List<String> entries = new ArrayList<>();
    if (main.getClassLoader() instanceof URLClassLoader loader) {
      for (URL url : loader.getURLs()) {
        try {
          entries.add(Path.of(url.toURI()).toString());
        } catch (URISyntaxException | IllegalArgumentException e) {
          // not a file: nothing a java command line can name
        }
      }
    }
    entries.add(System.getProperty("java.class.path"));
    return String.join(File.pathSeparator, entries);
  }

  /** Runs {@code main} to its end (two minutes at most) with {@code env} added to this one's. */
  public static Result run(
      List<String> jvmOptions, Map<String, String> env, Class<?> main, String... args)
      throws IOException, InterruptedException {
    Path output = Files.createTempFile("own-jvm", ".txt");
    try {
      ProcessBuilder builder =
          builder(jvmOptions, main, args).redirectErrorStream(true).redirectOutput(output.toFile());
      builder.environment().putAll(env);
      Process process = builder.start();
      process.getOutputStream().close();
      boolean ended = process.waitFor(2, TimeUnit.MINUTES);
      if (!ended) {
        process.destroyForcibly().waitFor();
      }
      String said = Files.readString(output, StandardCharsets.UTF_8);
      if (!ended) {
        throw new AssertionError("still running after two minutes: " + said);
      }
      return new Result(process.exitValue(), said.replace(INCUBATOR_WARNING, ""));
    } finally {
      Files.deleteIfExists(output);
    }
  }
}

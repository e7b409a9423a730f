package dev.fingerspell.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import dev.fingerspell.tensor.OwnJvm;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class MainTest {
  private static CliRun run(String... args) {
    return CliRun.run(System.getenv(), args);
  }

  @Test
  void versionNamesTheBuildAndTheRuntime() {
    CliRun r = run("--version");
    assertEquals(0, r.status());
    assertTrue(r.out().startsWith("fingerspell 0."), r.out());
    assertTrue(r.out().contains("Java " + Runtime.version().feature()), r.out());
  }

  @Test
  void helpListsTheCommands() {
    CliRun r = run("--help");
    assertEquals(0, r.status());
    assertTrue(r.out().contains("Usage: fingerspell"), r.out());
    assertTrue(r.out().contains("backends"), r.out());
  }

  /**
   * A command list shows only the first line of each description, so that line must be a whole
   * sentence, for every command and subcommand.
   */
  @Test
  void everyCommandsSummaryIsAWholeSentence() {
    java.util.List<picocli.CommandLine> commands = new java.util.ArrayList<>();
    commands.add(new picocli.CommandLine(new Main()));
    for (int i = 0; i < commands.size(); i++) {
      picocli.CommandLine c = commands.get(i);
      commands.addAll(c.getSubcommands().values());
      String[] description = c.getCommandSpec().usageMessage().description();
      String[] header = c.getCommandSpec().usageMessage().header();
      String summary = header.length > 0 ? header[0] : description.length > 0 ? description[0] : "";
      assertTrue(summary.endsWith("."), c.getCommandName() + ": '" + summary + "'");
    }
    assertTrue(commands.size() > 10, "commands found: " + commands.size());
  }

  @Test
  void backendsListsTheCpuAsDefault() {
    CliRun r = run("backends");
    assertEquals(0, r.status(), r.err());
    assertTrue(r.out().contains("cpu"), r.out());
    assertTrue(r.out().contains("(default)"), r.out());
  }

  /** Where no GPU answers, asking for one names what is missing, on one line, and runs nothing. */
  @Test
  void aGpuThatDoesNotAnswerIsOneLineSayingWhy() {
    assumeFalse(
        dev.fingerspell.tensor.Backends.isAvailable(dev.fingerspell.tensor.Device.Type.CUDA),
        "a GPU answers here");
    CliRun backends = run("backends");
    assertTrue(backends.out().contains("cuda   unavailable"), backends.out());
    assertTrue(backends.out().contains("libcuda.so.1"), backends.out());
    CliRun r = run("predict", "--model", "missing.safetensors", "--device", "cuda", "x.jpg");
    assertEquals(1, r.status());
    assertTrue(r.err().startsWith("fingerspell: device cuda:0 is not available: "), r.err());
    assertTrue(r.err().contains("FINGERSPELL_CUDA_LIBS"), r.err());
    assertEquals(1, r.err().strip().lines().count(), r.err());
    // the demo says so before it synthesises anything
    java.nio.file.Path demo = java.nio.file.Path.of("target", "demo-no-gpu");
    CliRun d = run("demo", "--dir", demo.toString(), "--device", "cuda");
    assertEquals(1, d.status());
    assertTrue(d.err().startsWith("fingerspell: device cuda:0 is not available: "), d.err());
    assertFalse(java.nio.file.Files.exists(demo.resolve("raw")), "synthesised before failing");
    dev.fingerspell.tensor.Backends.useDevice((dev.fingerspell.tensor.Device) null);
  }

  /**
   * In a JVM that does not compile the Vector API ({@code -XX:TieredStopAtLevel=1}, as IDEs and
   * containers set for a fast start), one warning line says so, what it costs and the way out, for
   * the backend that runs: ND4J by default, the pure-Java one when named.
   */
  @Test
  void aJvmThatDoesNotCompileTheVectorApiIsWarnedOf() throws Exception {
    List<String> c1 = List.of("-XX:TieredStopAtLevel=1");
    String warning =
        "fingerspell: warning: this JVM does not compile the Vector API to SIMD: C2 is left out"
            + " (-XX:TieredStopAtLevel=1); ";
    OwnJvm.Result auto =
        OwnJvm.run(c1, Map.of(), Main.class, "predict", "--model", "none.safetensors", "x.jpg");
    assertEquals(1, auto.status(), auto.output());
    assertTrue(
        auto.output()
            .startsWith(warning + "the CPU runs ND4J's convolutions in its place, 2–3× slower"),
        auto.output());
    assertEquals(2, auto.output().strip().lines().count(), auto.output()); // and the model's error
    OwnJvm.Result cpu =
        OwnJvm.run(
            c1,
            Map.of(),
            Main.class,
            "predict",
            "--device",
            "cpu",
            "--model",
            "none.safetensors",
            "x.jpg");
    assertTrue(
        cpu.output()
            .startsWith(
                warning
                    + "the pure-Java kernels run 14–290× slower: drop that option, or use --device"
                    + " nd4j"),
        cpu.output());
    OwnJvm.Result c2 =
        OwnJvm.run(List.of(), Map.of(), Main.class, "predict", "--model", "none.safetensors", "x");
    assertFalse(c2.output().contains("warning"), c2.output());
  }

  @Test
  void anUnknownDeviceIsNamed() {
    CliRun r = run("evaluate", "--model", "m.safetensors", "--data", "d", "--device", "tpu");
    assertEquals(1, r.status(), r.err());
    assertTrue(
        r.err().contains("unknown device 'tpu': use auto, cpu, cuda, cuda:N, nd4j"), r.err());
  }

  @Test
  void unknownOptionIsOneLineAndNonZero() {
    CliRun r = run("--no-such-option");
    assertEquals(2, r.status());
    assertTrue(r.err().contains("Unknown option"), r.err());
  }

  @Test
  void runningOutOfMemorySaysWhatToChange() {
    assertEquals(
        "out of memory (Java heap space; Java may use 200 MB here): use a smaller"
            + " train.batch_size, or let Java use more with FINGERSPELL_JAVA_OPTS=-Xmx<size> (for"
            + " example -Xmx16g)",
        Main.outOfMemory(new OutOfMemoryError("Java heap space"), 200L * 1024 * 1024));
  }
}

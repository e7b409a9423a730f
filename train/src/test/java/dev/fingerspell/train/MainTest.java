package dev.fingerspell.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

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

package dev.fingerspell.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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

  @Test
  void backendsListsTheCpuAsDefault() {
    CliRun r = run("backends");
    assertEquals(0, r.status(), r.err());
    assertTrue(r.out().contains("cpu"), r.out());
    assertTrue(r.out().contains("(default)"), r.out());
  }

  @Test
  void unknownOptionIsOneLineAndNonZero() {
    CliRun r = run("--no-such-option");
    assertEquals(2, r.status());
    assertTrue(r.err().contains("Unknown option"), r.err());
  }
}

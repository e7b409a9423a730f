package dev.fingerspell.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fingerspell.train.data.Folders;
import dev.fingerspell.weights.IoErrors;
import dev.fingerspell.weights.WeightFetch;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/**
 * {@code fingerspell cache [clear PART...]}: what {@code FINGERSPELL_HOME} holds, part by part, and
 * a way to get the space back, as {@code pip cache} and {@code huggingface-cli delete-cache} give
 * it. The layer3 part alone is 16 GB for the Kaggle set.
 */
@Command(
    name = "cache",
    mixinStandardHelpOptions = true,
    description = {
      "What the cache (FINGERSPELL_HOME, default ~/.cache/fingerspell) holds, and its size:"
          + " downloaded weights (hub), the frozen backbone's features (features), the frozen"
          + " stages' output for layer4 training (layer3).",
      "`fingerspell cache clear PART...` removes parts."
    },
    subcommands = CacheCommand.Clear.class)
final class CacheCommand implements Callable<Integer> {
  /** The cache's parts: folder name and what it holds. */
  enum Part {
    hub("downloaded weights"),
    features("the frozen backbone's features, for head training"),
    layer3("the frozen stages' output, for layer4 training");

    final String what;

    Part(String what) {
      this.what = what;
    }
  }

  @ParentCommand Main main;

  @Option(names = "--json", description = "print one JSON object instead of a table")
  boolean json;

  /** One part's files: its size, and for the hub the repositories. */
  record Usage(String name, String what, long bytes, long files, List<String> repos) {}

  @Override
  public Integer call() throws IOException {
    Cli cli = main.cli();
    Path dir = cacheDir(cli);
    List<Usage> parts = usage(dir);
    long total = parts.stream().mapToLong(Usage::bytes).sum();
    PrintWriter out = cli.out();
    if (json) {
      ObjectMapper mapper = new ObjectMapper();
      ObjectNode root = mapper.createObjectNode();
      root.put("dir", dir.toString());
      root.put("bytes", total);
      ArrayNode list = root.putArray("parts");
      for (Usage u : parts) {
        ObjectNode o = list.addObject();
        o.put("name", u.name());
        o.put("what", u.what());
        o.put("bytes", u.bytes());
        o.put("files", u.files());
        if (u.name().equals(Part.hub.name())) {
          u.repos().forEach(o.putArray("repos")::add);
        }
      }
      out.println(mapper.writeValueAsString(root));
      return 0;
    }
    out.println(dir + (Files.isDirectory(dir) ? "" : " (empty: not made yet)"));
    int width = 9; // the name column: "features", or a longer folder of another kind
    for (Usage u : parts) {
      width = Math.max(width, u.name().length() + 1);
    }
    String row = "%-" + width + "s %10s %6s  %s%n";
    out.printf(row, "PART", "SIZE", "FILES", "WHAT");
    for (Usage u : parts) {
      String what = u.repos().isEmpty() ? u.what() : u.what() + ": " + String.join(", ", u.repos());
      out.printf(row, u.name(), Folders.size(u.bytes()), u.files(), what);
    }
    out.printf("%-" + width + "s %10s%n", "total", Folders.size(total));
    out.println("`fingerspell cache clear PART...` removes parts (weights are downloaded again)");
    return 0;
  }

  /** FINGERSPELL_HOME, or its default, as the weights' fetch finds it. */
  private static Path cacheDir(Cli cli) {
    return WeightFetch.fromEnvironment(cli.env()).cacheDir();
  }

  /** Every part, known or not, with its size. */
  static List<Usage> usage(Path dir) throws IOException {
    List<Usage> parts = new ArrayList<>();
    for (Part p : Part.values()) {
      Path folder = dir.resolve(p.name());
      List<String> repos = p == Part.hub ? repos(folder) : List.of();
      Folders.Usage used = Folders.usage(folder);
      parts.add(new Usage(p.name(), p.what, used.bytes(), used.files(), repos));
    }
    if (Files.isDirectory(dir)) {
      try (Stream<Path> s = Files.list(dir)) {
        for (Path other : s.sorted().toList()) {
          String name = other.getFileName().toString();
          if (Stream.of(Part.values()).noneMatch(p -> p.name().equals(name))) {
            Folders.Usage used = Folders.usage(other);
            parts.add(new Usage(name, "other files", used.bytes(), used.files(), List.of()));
          }
        }
      }
    }
    return parts;
  }

  /**
   * The hub folders as references: {@code OWNER--NAME[@REVISION]} is hf://OWNER/NAME[@REVISION].
   */
  private static List<String> repos(Path hub) throws IOException {
    if (!Files.isDirectory(hub)) {
      return List.of();
    }
    try (Stream<Path> s = Files.list(hub)) {
      return s.filter(f -> Files.isRegularFile(f.resolve("model.safetensors")))
          .map(f -> "hf://" + f.getFileName().toString().replaceFirst("--", "/"))
          .sorted()
          .toList();
    }
  }

  /** Removes parts of the cache. */
  @Command(
      name = "clear",
      mixinStandardHelpOptions = true,
      description = {
        "Remove parts of the cache: hub (downloaded weights: downloaded again when next needed),"
            + " features, layer3 (computed again when next needed); --all for all three.",
        "A run training meanwhile computes again what it finds gone."
      })
  static final class Clear implements Callable<Integer> {
    @ParentCommand CacheCommand parent;

    @Parameters(
        paramLabel = "PART",
        arity = "0..*",
        description = "hub, features or layer3 (${COMPLETION-CANDIDATES})")
    List<Part> parts = new ArrayList<>();

    @Option(names = "--all", description = "every part")
    boolean all;

    @Override
    public Integer call() {
      Cli cli = parent.main.cli();
      if (parts.isEmpty() && !all) {
        cli.err()
            .println(
                "fingerspell cache clear: name the parts to remove (hub, features,"
                    + " layer3) or give --all");
        return 2;
      }
      Path dir = cacheDir(cli);
      Set<Part> chosen = new LinkedHashSet<>(all ? List.of(Part.values()) : parts);
      long freed = 0;
      for (Part p : chosen) {
        Path folder = dir.resolve(p.name());
        try {
          long bytes = Folders.usage(folder).bytes();
          Folders.deleteTree(folder);
          freed += bytes;
          cli.out().println("removed " + p.name() + ": " + Folders.size(bytes));
        } catch (IOException | UncheckedIOException e) {
          cli.err()
              .println(
                  "fingerspell cache clear: cannot remove " + folder + ": " + IoErrors.describe(e));
          return 1;
        }
      }
      if (chosen.size() > 1) {
        cli.out().println("freed " + Folders.size(freed));
      }
      return 0;
    }
  }
}

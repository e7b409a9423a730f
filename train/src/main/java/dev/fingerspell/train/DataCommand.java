package dev.fingerspell.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fingerspell.train.data.DataPrepare;
import dev.fingerspell.train.data.PreparedData;
import dev.fingerspell.train.data.SynthData;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/** {@code fingerspell data prepare|status|synth}. */
@Command(
    name = "data",
    mixinStandardHelpOptions = true,
    description = "Prepare the ASL Alphabet data set, check a prepared one, or synthesise one.",
    subcommands = {DataCommand.Prepare.class, DataCommand.Status.class, DataCommand.Synth.class})
final class DataCommand {
  @ParentCommand Main main;

  @Command(
      name = "prepare",
      mixinStandardHelpOptions = true,
      description = {
        "Decode a Kaggle ASL Alphabet zip or folder into verified shards.",
        "Writes OUT/processed/: train/val/test safetensors shards of uint8 [N,3,S,S] images and"
            + " int64 labels, and manifest.json (classes, counts, sha256 of every shard, source"
            + " hash)."
      })
  static final class Prepare implements Callable<Integer> {
    @ParentCommand DataCommand parent;

    @Option(
        names = "--src",
        required = true,
        paramLabel = "ZIP_OR_DIR",
        description = "the zip, or the extracted folder")
    Path src;

    @Option(
        names = "--out",
        required = true,
        paramLabel = "DIR",
        description = "where interim/ and processed/ go")
    Path out;

    @Option(
        names = "--size",
        defaultValue = "224",
        description = "stored image side (default ${DEFAULT-VALUE})")
    int size;

    @Option(
        names = "--val-fraction",
        defaultValue = "0.1",
        description = "held out per class (default ${DEFAULT-VALUE})")
    double valFraction;

    @Option(
        names = "--seed",
        defaultValue = "42",
        description = "split seed (default ${DEFAULT-VALUE})")
    long seed;

    @Option(
        names = "--shard-size",
        defaultValue = "1024",
        description = "images per shard (default ${DEFAULT-VALUE})")
    int shardSize;

    @Option(
        names = "--force",
        description = "prepare even when the prepared set is up to date with the source")
    boolean force;

    @Override
    public Integer call() throws Exception {
      Cli cli = parent.main.cli();
      long t0 = System.nanoTime();
      DataPrepare.Options options =
          new DataPrepare.Options(
              src,
              out,
              size,
              valFraction,
              seed,
              shardSize,
              Runtime.getRuntime().availableProcessors());
      if (!force && DataPrepare.upToDate(options)) { // as dvc repro skips an unchanged stage
        Path processed = out.resolve("processed");
        cli.out()
            .printf(
                "%s is up to date with %s (the same images and settings; data version %s),"
                    + " checked in %.1f s: nothing to do (--force prepares it again)%n",
                processed,
                src,
                PreparedData.open(processed).fingerprint().substring(0, 12),
                (System.nanoTime() - t0) / 1e9);
        return 0;
      }
      Path processed = DataPrepare.run(options, Bars.forConsole(cli.out()));
      JsonNode m = new ObjectMapper().readTree(processed.resolve(DataPrepare.MANIFEST).toFile());
      JsonNode splits = m.get("splits");
      cli.out()
          .printf(
              "prepared %s in %.1f s: train %d, val %d, test %d images; %d skipped as unreadable; %d classes%n",
              processed,
              (System.nanoTime() - t0) / 1e9,
              splits.path("train").path("count").asInt(),
              splits.path("val").path("count").asInt(),
              splits.path("test").path("count").asInt(),
              m.get("skipped_count").asInt(),
              m.get("classes").size());
      for (JsonNode s : m.get("skipped")) {
        cli.err().println("skipped " + s.get("file").asText() + ": " + s.get("reason").asText());
      }
      return 0;
    }
  }

  @Command(
      name = "status",
      mixinStandardHelpOptions = true,
      description = {
        "Check a prepared data set against its manifest, as dvc status does.",
        "Hashes every shard and lists, per split, the images and whether each shard is the one the"
            + " manifest names; prints the data version (the fingerprint run.json and runs --json"
            + " show for the runs that trained on it). The exit status is 1 when a shard changed or"
            + " is missing."
      })
  static final class Status implements Callable<Integer> {
    @ParentCommand DataCommand parent;

    @Parameters(paramLabel = "DIR", description = "the prepared set (or the folder above it)")
    Path dir;

    @Option(names = "--json", description = "the same as one JSON object")
    boolean json;

    @Override
    public Integer call() throws Exception {
      Cli cli = parent.main.cli();
      PreparedData data = PreparedData.open(dir);
      ObjectMapper mapper = new ObjectMapper();
      Map<String, List<PreparedData.ShardState>> states = new LinkedHashMap<>();
      data.splits().forEach(split -> states.put(split, data.check(split)));
      List<PreparedData.ShardState> all = states.values().stream().flatMap(List::stream).toList();
      long bad = all.stream().filter(st -> !st.ok()).count();
      if (json) {
        ObjectNode report = mapper.createObjectNode();
        report.put("dir", data.dir().toString());
        report.put("fingerprint", data.fingerprint());
        report.put("image_size", data.imageSize());
        report.put("classes", data.classes().size());
        ObjectNode splits = report.putObject("splits");
        states.forEach(
            (split, shards) -> {
              ObjectNode o = splits.putObject(split);
              o.put("count", data.count(split));
              ArrayNode arr = o.putArray("shards");
              shards.forEach(
                  st ->
                      arr.addObject()
                          .put("file", st.file().getFileName().toString())
                          .put("state", st.state()));
            });
        report.put("ok", bad == 0);
        cli.out().println(mapper.writeValueAsString(report));
      } else {
        cli.out()
            .printf(
                "%s: data version %s, %d×%d images, %d classes%n",
                data.dir(),
                data.fingerprint(),
                data.imageSize(),
                data.imageSize(),
                data.classes().size());
        states.forEach(
            (split, shards) -> {
              List<String> wrong =
                  shards.stream()
                      .filter(st -> !st.ok())
                      .map(st -> st.state() + " " + st.file().getFileName())
                      .toList();
              cli.out()
                  .printf(
                      Locale.ROOT,
                      "  %-5s %,8d images in %d shard%s: %s%n",
                      split,
                      data.count(split),
                      shards.size(),
                      shards.size() == 1 ? "" : "s",
                      wrong.isEmpty() ? "ok" : String.join(", ", wrong));
            });
      }
      if (bad > 0) {
        cli.err()
            .printf(
                "fingerspell: %d of %d shards differ from the manifest: run fingerspell data"
                    + " prepare again%n",
                bad, all.size());
        return 1;
      }
      return 0;
    }
  }

  @Command(
      name = "synth",
      mixinStandardHelpOptions = true,
      description = "Write a synthetic ASL-like set in the Kaggle layout (for the demo and tests).")
  static final class Synth implements Callable<Integer> {
    @ParentCommand DataCommand parent;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "output folder")
    Path out;

    @Option(
        names = "--per-class",
        defaultValue = "100",
        description = "training images per class (default ${DEFAULT-VALUE})")
    int perClass;

    @Option(names = "--seed", defaultValue = "1", description = "seed (default ${DEFAULT-VALUE})")
    long seed;

    @Override
    public Integer call() {
      long t0 = System.nanoTime();
      int n = SynthData.write(out, perClass, seed);
      parent
          .main
          .cli()
          .out()
          .printf("wrote %d images to %s in %.1f s%n", n, out, (System.nanoTime() - t0) / 1e9);
      return 0;
    }
  }
}

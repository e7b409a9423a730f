package dev.fingerspell.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fingerspell.train.data.DataPrepare;
import dev.fingerspell.train.data.SynthData;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/** {@code fingerspell data prepare|synth}. */
@Command(
    name = "data",
    mixinStandardHelpOptions = true,
    description = "Prepare the ASL Alphabet data set, or synthesise one.",
    subcommands = {DataCommand.Prepare.class, DataCommand.Synth.class})
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

    @Override
    public Integer call() throws Exception {
      Cli cli = parent.main.cli();
      long t0 = System.nanoTime();
      Path processed =
          DataPrepare.run(
              new DataPrepare.Options(
                  src,
                  out,
                  size,
                  valFraction,
                  seed,
                  shardSize,
                  Runtime.getRuntime().availableProcessors()),
              Bars.forConsole(cli.out()));
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

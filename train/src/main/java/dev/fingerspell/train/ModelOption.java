package dev.fingerspell.train;

import java.nio.file.Path;
import picocli.CommandLine.Option;

/** {@code --model} for the commands that load a trained model: a file, or a run folder. */
final class ModelOption {
  @Option(
      names = "--model",
      required = true,
      paramLabel = "FILE",
      description = "model file, or a run folder (its model.safetensors)")
  Path given;

  /** The model file: the one given, or a run folder's best model ({@link RunsCommand#model}). */
  Path file() {
    return RunsCommand.model(given);
  }
}

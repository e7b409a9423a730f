package dev.fingerspell.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fingerspell.resnet.AslClassifier;
import dev.fingerspell.resnet.ImageFiles;
import dev.fingerspell.resnet.Preprocess;
import dev.fingerspell.train.data.Images;
import dev.fingerspell.train.data.SourceLayout;
import dev.fingerspell.train.serve.PredictionJson;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/** {@code fingerspell predict --model FILE IMAGE...}. */
@Command(
    name = "predict",
    mixinStandardHelpOptions = true,
    description = {
      "Classify images with a model file.",
      "The model is a safetensors file with timm's names and any number of classes; labels come"
          + " from its metadata, else the 29 ASL labels, else class indices. An unreadable image"
          + " is reported and skipped, and the exit status is then 1."
    })
final class PredictCommand implements Callable<Integer> {
  private static final int BATCH = 16;

  /** The IMAGE that stands for standard input. */
  private static final Path STDIN = Path.of("-");

  @ParentCommand Main main;

  @Mixin ModelOption model = new ModelOption();

  @Mixin DeviceOption device = new DeviceOption();

  @Parameters(
      paramLabel = "IMAGE",
      arity = "1..*",
      description =
          "JPEG, PNG, BMP, GIF or TIFF images, or folders of them (each folder's images by"
              + " name), or - for one image on standard input")
  List<Path> images;

  @Option(
      names = "--top-k",
      paramLabel = "K",
      defaultValue = "3",
      description = "classes per image (default ${DEFAULT-VALUE})")
  int topK;

  @Option(names = "--json", description = "one JSON object per image per line")
  boolean json;

  @Override
  public Integer call() throws Exception {
    Cli cli = main.cli();
    if (topK < 1) {
      throw new IllegalArgumentException("--top-k must be at least 1");
    }
    device.apply(); // a device that cannot be had is said before the images are listed
    boolean piped = images.contains(STDIN);
    if (piped && images.size() > 1) {
      throw new IllegalArgumentException(
          "'-' (an image on standard input) must be the only IMAGE given");
    }
    boolean failed = false;
    List<Path> files = new ArrayList<>();
    for (Path p : piped ? List.<Path>of() : images) {
      if (Files.isDirectory(p)) {
        List<Path> inside = SourceLayout.images(p);
        if (inside.isEmpty()) {
          cli.err()
              .println(
                  "fingerspell: " + p + ": a folder with no images (" + ImageFiles.FORMATS + ")");
          failed = true;
        }
        files.addAll(inside);
      } else {
        files.add(p);
      }
    }
    device.apply(piped ? 1 : files.size());
    AslClassifier classifier = AslClassifier.load(model.file());
    Preprocess pre = classifier.info().preprocess();
    ObjectMapper mapper = new ObjectMapper();
    if (piped) {
      // one image piped in (curl -s URL | fingerspell predict --model m -): decoded as a file is
      Images.Pixels pixels = Images.pixels(STDIN, cli.in().readAllBytes(), pre);
      return predict(classifier, Images.batchOf(List.of(pixels)), mapper, cli) ? 0 : 1;
    }
    for (int from = 0; from < files.size(); from += BATCH) {
      Images.Batch batch =
          Images.batch(files.subList(from, Math.min(from + BATCH, files.size())), pre);
      failed |= !predict(classifier, batch, mapper, cli);
    }
    return failed ? 1 : 0;
  }

  /** Prints the batch's predictions and its errors; false when an image had none. */
  private boolean predict(
      AslClassifier classifier, Images.Batch batch, ObjectMapper mapper, Cli cli)
      throws IOException {
    for (String error : batch.errors()) {
      cli.err().println("fingerspell: " + error);
    }
    if (!batch.good().isEmpty()) {
      Preprocess pre = classifier.info().preprocess();
      print(classifier.predict(batch.tensor(pre), topK), batch.files(), mapper, cli.out());
    }
    return batch.errors().isEmpty();
  }

  private void print(
      List<List<AslClassifier.Prediction>> all,
      List<Path> paths,
      ObjectMapper mapper,
      PrintWriter out)
      throws IOException {
    for (int i = 0; i < paths.size(); i++) {
      List<AslClassifier.Prediction> preds = all.get(i);
      if (json) {
        out.println(
            mapper.writeValueAsString(PredictionJson.of(mapper, paths.get(i).toString(), preds)));
      } else {
        StringBuilder b = new StringBuilder(paths.get(i).toString()).append(':');
        for (AslClassifier.Prediction p : preds) {
          b.append(String.format("  %s %.4f", p.label(), p.probability()));
        }
        out.println(b);
      }
    }
  }
}

package dev.fingerspell.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fingerspell.weights.SafetensorsFile;
import dev.fingerspell.weights.TensorInfo;
import dev.fingerspell.weights.WeightFetch;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/** {@code fingerspell weights inspect|fetch}. */
@Command(
    name = "weights",
    mixinStandardHelpOptions = true,
    description = "Inspect and download safetensors weight files.",
    subcommands = {WeightsCommand.Inspect.class, WeightsCommand.Fetch.class})
final class WeightsCommand {
  @ParentCommand Main main;

  /** Validates a file and lists its tensors, metadata and parameter count. */
  @Command(
      name = "inspect",
      mixinStandardHelpOptions = true,
      description = "Validate a safetensors file; list every tensor, the metadata and the counts.")
  static final class Inspect implements Callable<Integer> {
    @ParentCommand WeightsCommand parent;

    @Parameters(paramLabel = "FILE", description = "a .safetensors file")
    Path file;

    @Option(names = "--json", description = "print one JSON object instead of a table")
    boolean json;

    @Override
    public Integer call() throws Exception {
      Cli cli = parent.main.cli();
      PrintWriter out = cli.out();
      try (SafetensorsFile f = SafetensorsFile.open(file)) {
        long params = 0;
        long buffers = 0;
        for (TensorInfo t : f.tensors().values()) {
          if (isBuffer(t.name())) {
            buffers += t.numel();
          } else {
            params += t.numel();
          }
        }
        long bytes = Files.size(file);
        if (json) {
          ObjectMapper mapper = new ObjectMapper();
          ObjectNode root = mapper.createObjectNode();
          root.put("file", file.toString());
          root.put("bytes", bytes);
          root.put("tensor_count", f.tensors().size());
          root.put("parameters", params);
          root.put("buffer_elements", buffers);
          ObjectNode meta = root.putObject("metadata");
          f.metadata().forEach(meta::put);
          ArrayNode list = root.putArray("tensors");
          for (TensorInfo t : f.tensors().values()) {
            ObjectNode o = list.addObject();
            o.put("name", t.name());
            o.put("dtype", t.dtype().name());
            ArrayNode shape = o.putArray("shape");
            for (long d : t.shape()) {
              shape.add(d);
            }
          }
          out.println(mapper.writeValueAsString(root));
          return 0;
        }
        out.printf(
            "%s: %d tensors, %,d parameters (+ %,d buffer elements), %,d bytes%n",
            file, f.tensors().size(), params, buffers, bytes);
        if (!f.metadata().isEmpty()) {
          out.println("metadata:");
          for (Map.Entry<String, String> e : f.metadata().entrySet()) {
            String v = e.getValue();
            out.printf("  %s = %s%n", e.getKey(), v.length() > 200 ? v.substring(0, 200) + "…" : v);
          }
        }
        int width = 4;
        for (String name : f.tensors().keySet()) {
          width = Math.max(width, name.length());
        }
        out.printf("%-" + width + "s  %-5s  %s%n", "NAME", "DTYPE", "SHAPE");
        for (TensorInfo t : f.tensors().values()) {
          out.printf("%-" + width + "s  %-5s  %s%n", t.name(), t.dtype(), t.shapeString());
        }
        return 0;
      }
    }

    /** Running statistics and counters: state, not learnable parameters (as timm counts). */
    private static boolean isBuffer(String name) {
      return name.endsWith("running_mean")
          || name.endsWith("running_var")
          || name.endsWith("num_batches_tracked");
    }
  }

  /** Downloads a hub repository's weights into the cache (and optionally a file). */
  @Command(
      name = "fetch",
      mixinStandardHelpOptions = true,
      description = {
        "Download hf://OWNER/NAME[@REVISION] (the Hugging Face Hub file model.safetensors) into the cache.",
        "The cache is FINGERSPELL_HOME (default ~/.cache/fingerspell); HF_ENDPOINT overrides the"
            + " hub."
      })
  static final class Fetch implements Callable<Integer> {
    @ParentCommand WeightsCommand parent;

    @Parameters(paramLabel = "REPO", description = "e.g. hf://timm/resnet18.a1_in1k")
    String repo;

    @Option(names = "--out", paramLabel = "FILE", description = "also copy the file here")
    Path out;

    @Override
    public Integer call() {
      Cli cli = parent.main.cli();
      String spec = repo.startsWith("hf://") ? repo : "hf://" + repo;
      Path p =
          WeightFetch.fromEnvironment(cli.env()).fetch(spec, out, new ConsoleProgress(System.err));
      cli.out().println(p);
      return 0;
    }
  }
}

package dev.fingerspell.bench;

import dev.fingerspell.resnet.FrozenResNet18;
import dev.fingerspell.resnet.ResNet18;
import dev.fingerspell.tensor.GradMode;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.tensor.Tensor;
import java.util.function.UnaryOperator;

/**
 * One side of the side-by-side comparison: ResNet18 evaluation forward at a given batch and size,
 * timed after warm-up, printed as one line {@code fingerspell batch=B size=S img_per_s=X}. {@code
 * bench/compare} runs it alternately with the same measurement in PyTorch.
 *
 * <p>Usage: {@code ResNetThroughput BATCH SIZE SECONDS [frozen|eval]}: {@code frozen} (the default)
 * runs {@link FrozenResNet18}, batch norm folded and epilogues fused, as inference does; {@code
 * eval} runs the trainable model in evaluation mode.
 */
public final class ResNetThroughput {
  private ResNetThroughput() {}

  /** Runs the measurement. */
  public static void main(String[] args) {
    int batch = Integer.parseInt(args[0]);
    int size = Integer.parseInt(args[1]);
    double seconds = Double.parseDouble(args[2]);
    boolean frozen = args.length < 4 || args[3].equals("frozen");
    ResNet18 model = new ResNet18(29, new Rng(1));
    model.eval();
    FrozenResNet18 folded = FrozenResNet18.of(model);
    UnaryOperator<Tensor> net = frozen ? folded::forward : model::forward;
    Tensor x = Tensor.randn(new Rng(2), batch, 3, size, size);
    try (GradMode g = GradMode.noGrad()) {
      for (int i = 0; i < 3; i++) {
        net.apply(x).toFloatArray(); // warm-up: JIT and buffers
      }
      int images = 0;
      long start = System.nanoTime();
      long end = start + (long) (seconds * 1e9);
      while (System.nanoTime() < end || images == 0) {
        net.apply(x).toFloatArray();
        images += batch;
      }
      double elapsed = (System.nanoTime() - start) / 1e9;
      System.out.printf(
          "fingerspell batch=%d size=%d img_per_s=%.2f%n", batch, size, images / elapsed);
    }
  }
}

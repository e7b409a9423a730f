package dev.fingerspell.resnet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.fingerspell.cuda.CudaBackend;
import dev.fingerspell.tensor.Backends;
import dev.fingerspell.tensor.Device;
import dev.fingerspell.tensor.GradCheck;
import dev.fingerspell.tensor.Ops;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.tensor.Tensor;
import dev.fingerspell.tensor.optim.AdamW;
import java.io.IOException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * ResNet18 on a GPU: logits against the PyTorch golden within 1e-4 (TF32 off), the frozen network
 * (folded batch norm, cuDNN's fused epilogues) against the live one, no device memory kept after
 * 1,000 forward passes, and head-training steps that end where the CPU's do. Skipped, each test,
 * where no GPU answers.
 */
class ResNet18GpuTest {
  private static final Device GPU = new Device(Device.Type.CUDA, 0);

  @BeforeEach
  void onTheGpu() {
    assumeTrue(Backends.isAvailable(Device.Type.CUDA), "no CUDA GPU here");
    Backends.useDevice(GPU); // tensors made without a device go to the GPU
  }

  @AfterEach
  void backToAuto() {
    Backends.useDevice((Device) null);
  }

  @Test
  void logitsMatchPyTorchOnTheGpu() throws IOException {
    ResNet18 model = DeviceParity.logitsMatchPyTorch("gpu");
    assertEquals(GPU, model.fc().weight().device());
    CudaBackend cuda = (CudaBackend) Backends.forDevice(GPU);
    System.out.println(
        "gpu " + cuda.describe() + "; fused convolutions cuDNN declined: " + cuda.fusedFallbacks());
    cuda.convolutionPlans().forEach(line -> System.out.println("gpu plan " + line));
  }

  @Test
  void noDeviceMemoryIsKeptAfter1000ForwardPasses() throws IOException {
    FrozenResNet18 frozen = FrozenResNet18.of(SeededWeights.goldenModel(SeededWeights.golden()));
    CudaBackend cuda = (CudaBackend) Backends.forDevice(GPU);
    float[] image = new float[3 * 224 * 224];
    Rng rng = new Rng(4);
    for (int i = 0; i < image.length; i++) {
      image[i] = (float) rng.nextGaussian();
    }
    Runnable pass = () -> frozen.forward(Tensor.of(image, 1, 3, 224, 224)).toFloatArray();
    long first = cuda.deviceAllocations(0);
    int settled = cuda.settleAllocator(0, pass, 5); // from then on the cache serves most passes
    long before = cuda.liveBytes(0);
    long allocations = cuda.deviceAllocations(0);
    long start = System.nanoTime();
    for (int i = 0; i < 1000; i++) {
      pass.run();
    }
    double ms = (System.nanoTime() - start) / 1e6 / 1000;
    long after = cuda.liveBytes(0);
    java.lang.ref.Reference.reachabilityFence(frozen); // its weights count in both readings
    long fresh = cuda.deviceAllocations(0) - allocations;
    long total = cuda.deviceAllocations(0) - first;
    System.out.printf(
        "gpu resnet18 1000 passes at batch 1: %.2f ms each; settled in %d periods, then %d"
            + " cuMemAlloc (%d in all); allocator %s%n",
        ms, settled, fresh, total, cuda.memoryStats(0));
    assertEquals(before, after, "live device bytes after 1000 passes");
    // How few blocks the passes take from the device once the cache has grown depends on when the
    // JVM's own collections feed it; that it never holds more than a collection period's does not.
    assertTrue(
        total <= cuda.collectionPeriod() + 512,
        "blocks from the device: " + total + ", more than a collection period's");
  }

  /**
   * Two SGD steps of the whole network end at the same weights as on the CPU ({@link
   * DeviceParity#trainingStepsMatch}). Against the stub libraries' direct arithmetic the stem was
   * 3.6e-7 apart with every CPU convolution direct, 9.6e-6 with Winograd forwards and input
   * gradients, 1.05e-4 with Winograd weight gradients too.
   */
  @Test
  void trainingStepsOfTheWholeNetworkMatchTheCpu() {
    ResNet18[] models =
        DeviceParity.trainingStepsMatch(
            "gpu", () -> Backends.useDevice(Device.CPU), () -> Backends.useDevice(GPU));
    assertEquals(Device.CPU, models[0].conv1().weight().device());
    assertEquals(GPU, models[1].conv1().weight().device());
  }

  /** Twenty AdamW steps of the 29-class head on the same features end at the same weights. */
  @Test
  void headTrainingStepsMatchTheCpu() {
    float[][] weights = new float[2][];
    for (int run = 0; run < 2; run++) {
      Backends.useDevice(run == 0 ? Device.CPU : GPU);
      ResNet18 model = new ResNet18(29, null);
      model.resetClassifier(29, new Rng(3));
      model.setTrainable(ResNet18.Trainable.HEAD);
      AdamW opt = new AdamW(model.trainableParameters(), 1e-3, 0.9, 0.999, 1e-8, 1e-4);
      Tensor features = Tensor.uniform(new Rng(4), 0f, 4f, 256, ResNet18.FEATURES);
      long[] labels = new long[256];
      for (int i = 0; i < labels.length; i++) {
        labels[i] = i % 29;
      }
      for (int step = 0; step < 20; step++) {
        int[] rows = new int[64];
        for (int i = 0; i < rows.length; i++) {
          rows[i] = (step * 64 + i * 7) % 256;
        }
        Tensor batch = Ops.gatherRows(features, rows);
        long[] batchLabels = new long[rows.length];
        for (int i = 0; i < rows.length; i++) {
          batchLabels[i] = labels[rows[i]];
        }
        Tensor loss =
            Ops.crossEntropy(model.forwardHead(batch), Tensor.ofLongs(batchLabels, 64), 0.1f);
        opt.zeroGrad();
        loss.backward();
        opt.step();
      }
      assertEquals(run == 0 ? Device.CPU : GPU, model.fc().weight().device());
      weights[run] = model.fc().weight().toFloatArray();
    }
    double err = GradCheck.relError(weights[1], GradCheck.toDouble(weights[0]));
    System.out.printf("gpu head training, 20 steps: weights relative error %.2e%n", err);
    assertTrue(err < 1e-5, "head weights after 20 steps: relative error " + err);
  }
}

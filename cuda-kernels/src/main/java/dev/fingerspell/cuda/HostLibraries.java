package dev.fingerspell.cuda;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import dev.fingerspell.tensor.Backend;
import dev.fingerspell.tensor.Backends;
import dev.fingerspell.tensor.ConvGeometry;
import dev.fingerspell.tensor.DType;
import dev.fingerspell.tensor.Device;
import dev.fingerspell.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * The host emulator's stand-in for cuDNN and cuBLAS: each call copies its operands out of the
 * emulator's memory, runs the CPU backend's kernel and copies the result back. It shows that the
 * CUDA backend hands the libraries the right operands, shapes and outputs, so that whole networks
 * run on the emulated device; it says nothing about cuDNN itself.
 */
@SuppressWarnings("restricted") // the emulator's device addresses are host memory
final class HostLibraries implements Libraries {
  private final Backend cpu = Backends.forDevice(Device.CPU);
  private final DeviceApi emulator;

  HostLibraries(DeviceApi emulator) {
    this.emulator = emulator;
  }

  @Override
  public String describe() {
    return "the CPU backend standing in for cuDNN and cuBLAS";
  }

  /** The floats at {@code address}, once the copies queued before have landed. */
  private MemorySegment at(long address, long floats) {
    emulator.synchronize();
    return MemorySegment.ofAddress(address).reinterpret(4 * floats);
  }

  /** A CPU tensor holding the floats at {@code address}. */
  private Tensor read(long address, int... shape) {
    long n = 1;
    for (int d : shape) {
      n *= d;
    }
    return Tensor.of(Device.CPU, at(address, n).toArray(JAVA_FLOAT), shape);
  }

  private static Tensor zeros(int... shape) {
    return Tensor.zeros(Device.CPU, DType.FLOAT32, shape);
  }

  /** Writes a CPU tensor's floats to {@code address}. */
  private void write(Tensor t, long address) {
    float[] v = t.toFloatArray();
    MemorySegment.copy(v, 0, at(address, v.length), JAVA_FLOAT, 0, v.length);
  }

  private static int[] in(ConvGeometry g) {
    return new int[] {g.batch(), g.inChannels(), g.inHeight(), g.inWidth()};
  }

  private static int[] filter(ConvGeometry g) {
    return new int[] {g.outChannels(), g.inChannels(), g.kernelH(), g.kernelW()};
  }

  @Override
  public void convolution(Cudnn.Pass pass, ConvGeometry g, long a, long b, long out) {
    switch (pass) {
      case FORWARD -> {
        Tensor y = zeros(g.outShape());
        cpu.conv2dForward(g, read(a, in(g)), read(b, filter(g)), null, y);
        write(y, out);
      }
      case BACKWARD_DATA -> {
        Tensor dx = zeros(in(g));
        cpu.conv2dBackwardData(g, read(b, g.outShape()), read(a, filter(g)), dx);
        write(dx, out);
      }
      case BACKWARD_FILTER -> {
        Tensor dw = zeros(filter(g));
        cpu.conv2dBackwardFilter(g, read(a, in(g)), read(b, g.outShape()), dw, null);
        write(dw, out);
      }
    }
  }

  @Override
  public boolean convolutionBiasRelu(
      ConvGeometry g, long x, long w, long bias, long residual, long y) {
    Tensor out = zeros(g.outShape());
    cpu.conv2dBiasActivation(
        g,
        read(x, in(g)),
        read(w, filter(g)),
        read(bias, g.outChannels()),
        residual == 0 ? null : read(residual, g.outShape()),
        true,
        out);
    write(out, y);
    return true;
  }

  @Override
  public List<String> declined() {
    return List.of();
  }

  @Override
  public void convolutionBiasBackward(ConvGeometry g, long dy, long dbias) {
    float[] d = read(dy, g.outShape()).toFloatArray();
    int hw = g.outHeight() * g.outWidth();
    float[] sums = new float[g.outChannels()];
    for (int c = 0; c < sums.length; c++) {
      double s = 0;
      for (int n = 0; n < g.batch(); n++) {
        for (int i = 0; i < hw; i++) {
          s += d[(n * sums.length + c) * hw + i];
        }
      }
      sums[c] = (float) s;
    }
    write(Tensor.of(Device.CPU, sums, sums.length), dbias);
  }

  @Override
  public void batchNormForwardTraining(
      int n,
      int c,
      int hw,
      long x,
      long y,
      long weight,
      long bias,
      float momentum,
      long runningMean,
      long runningVar,
      float eps,
      long saveMean,
      long saveInvStd) {
    Tensor out = zeros(n, c, hw);
    Tensor mean = zeros(c);
    Tensor invStd = zeros(c);
    Tensor rm = runningMean == 0 ? null : read(runningMean, c);
    Tensor rv = runningVar == 0 ? null : read(runningVar, c);
    cpu.batchNormForwardTraining(
        n,
        c,
        hw,
        read(x, n, c, hw),
        read(weight, c),
        read(bias, c),
        rm,
        rv,
        momentum,
        eps,
        out,
        mean,
        invStd);
    write(out, y);
    write(mean, saveMean);
    write(invStd, saveInvStd);
    if (rm != null) {
      write(rm, runningMean);
    }
    if (rv != null) {
      write(rv, runningVar);
    }
  }

  @Override
  public void batchNormForwardInference(
      int n,
      int c,
      int hw,
      long x,
      long y,
      long weight,
      long bias,
      long mean,
      long var,
      float eps) {
    Tensor out = zeros(n, c, hw);
    cpu.batchNormForwardInference(
        n,
        c,
        hw,
        read(x, n, c, hw),
        read(weight, c),
        read(bias, c),
        read(mean, c),
        read(var, c),
        eps,
        out);
    write(out, y);
  }

  @Override
  public void batchNormBackward(
      int n,
      int c,
      int hw,
      long x,
      long dy,
      long dx,
      long weight,
      long dweight,
      long dbias,
      long saveMean,
      long saveInvStd) {
    Tensor dxT = zeros(n, c, hw);
    Tensor dwT = zeros(c);
    Tensor dbT = zeros(c);
    cpu.batchNormBackwardTraining(
        n,
        c,
        hw,
        read(x, n, c, hw),
        read(dy, n, c, hw),
        read(weight, c),
        read(saveMean, c),
        read(saveInvStd, c),
        dxT,
        dwT,
        dbT);
    write(dxT, dx);
    write(dwT, dweight);
    write(dbT, dbias);
  }

  @Override
  public void gemm(
      boolean transA,
      boolean transB,
      int m,
      int n,
      int k,
      float alpha,
      long a,
      long b,
      float beta,
      long c) {
    Tensor cT = read(c, m * n);
    cpu.gemm(transA, transB, m, n, k, alpha, read(a, m * k), read(b, k * n), beta, cT);
    write(cT, c);
  }
}

package dev.fingerspell.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.fingerspell.tensor.Backends;
import dev.fingerspell.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link CudaDriver} itself, through JCuda, on a stub of the NVIDIA driver ({@code
 * src/test/emulator/stub_driver.cpp}: one pretend GPU whose memory is host memory and whose kernels
 * are ours compiled for the host), with the CPU standing in for cuDNN and cuBLAS: every op check of
 * {@link CudaOpsChecks}, so that JCuda's argument passing, pointer offsets, kernel parameters, the
 * stream, events and pinned copies have run before a GPU ever sees them. Runs in its own JVM (the
 * surefire execution {@code stub-driver}), where the stub is libcuda.so.1.
 */
@SuppressWarnings("restricted") // reads the stub's counters
class StubDriverTest extends CudaOpsChecks {
  @BeforeEach
  void requireStub() {
    stub();
  }

  /** The stub driver, skipping the test where it was not built (no g++); it must be the GPU. */
  static Path stub() {
    String stub = System.getProperty("fingerspell.cuda.stub");
    assumeTrue(stub != null && Files.exists(Path.of(stub)), "the stub driver is absent");
    assertTrue(Backends.forDevice(GPU).describe().contains("stub GPU"), "the stub is the GPU");
    return Path.of(stub);
  }

  /** A function the stub exports for tests. */
  static MethodHandle stubFunction(String name, FunctionDescriptor signature) {
    MemorySegment address =
        SymbolLookup.libraryLookup(
                Path.of(System.getProperty("fingerspell.cuda.stub")), Arena.global())
            .find(name)
            .orElseThrow();
    return Linker.nativeLinker().downcallHandle(address, signature);
  }

  /** The driver under the backend's GPU: the stub, through JCuda. */
  static CudaDriver driver() {
    return (CudaDriver) ((CudaBackend) Backends.forDevice(GPU)).runtime(GPU.index()).device;
  }

  /** The stream address cuDNN and cuBLAS are put on is the stream the driver created. */
  @Test
  void theLibrariesStreamIsTheDriversStream() throws Throwable {
    MethodHandle stream = stubFunction("stub_stream", FunctionDescriptor.of(ADDRESS));
    long created = ((MemorySegment) stream.invokeExact()).address();
    assertTrue(created != 0, "no stream was created");
    assertEquals(created, driver().streamAddress());
  }

  /**
   * {launches, async host copies, calls not on the backend's stream, async copies with unpinned
   * host memory, device ranges outside any allocation, cuDNN and cuBLAS compute calls, launches
   * whose blocks ran with all their threads}.
   */
  static long[] counters() {
    MethodHandle counters = stubFunction("stub_counters", FunctionDescriptor.ofVoid(ADDRESS));
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment out = arena.allocate(JAVA_LONG, 7);
      counters.invokeExact(out);
      return out.toArray(JAVA_LONG);
    } catch (Throwable t) {
      throw new IllegalStateException(t);
    }
  }

  /**
   * What a real driver would reject or slow down, never seen: every launch, copy, memset and event
   * on the stream the backend created; every async copy through pinned memory; every device range
   * inside an allocation. And the work did reach the driver: launches and copies were counted.
   */
  @Test
  void everythingRunsOnTheBackendsStreamThroughPinnedMemory() {
    long[] before = counters();
    Tensor x = Tensor.of(GPU, new float[] {1, -2, 3, -4, 5, -6}, 2, 3);
    float[] y = dev.fingerspell.tensor.Ops.relu(x).toFloatArray();
    assertArrayEquals(new float[] {1, 0, 3, 0, 5, 0}, y);
    long[] after = counters();
    assertTrue(after[0] > before[0], "no launch reached the driver");
    assertTrue(after[1] >= before[1] + 2, "no upload and download reached the driver");
    assertEquals(0, after[2], "calls on a stream other than the backend's");
    assertEquals(0, after[3], "async copies with unpinned host memory");
    assertEquals(0, after[4], "device ranges outside any allocation");
  }

  /**
   * Staging memory is the driver's own where it allocates it, else Java's registered with it, else
   * pageable, said in the device's name. No copy is made from the pageable one: the stub counts
   * such copies for the whole run, and {@link
   * #everythingRunsOnTheBackendsStreamThroughPinnedMemory} requires none.
   */
  @Test
  void pinnedMemoryIsAllocatedElseRegisteredElseSaidToBePageable() throws Throwable {
    CudaDriver driver = driver();
    MethodHandle refuse = stubFunction("stub_refuse_pinning", FunctionDescriptor.ofVoid(JAVA_INT));
    long unpinnedBefore = counters()[3];
    DevicePointer target = driver.tryAlloc(8192);
    try {
      MemorySegment allocated = driver.allocatePinned(8192);
      refuse.invokeExact(1); // no cuMemAllocHost: Java's memory, registered
      MemorySegment registered = driver.allocatePinned(8192);
      for (MemorySegment staging : new MemorySegment[] {allocated, registered}) {
        staging.fill((byte) 7);
        driver.copyToDevice(target, 0, staging);
      }
      driver.synchronize();
      assertEquals(unpinnedBefore, counters()[3], "a copy went from memory the stub saw unpinned");
      assertEquals(8192, allocated.byteSize());
      assertTrue(!driver.name().contains("not pinned"), driver.name());

      refuse.invokeExact(3); // neither: pageable, and the name says why
      MemorySegment pageable = driver.allocatePinned(8192);
      assertEquals(8192, pageable.byteSize());
      assertTrue(
          driver
              .name()
              .endsWith(
                  "(copies not pinned: cuMemAllocHost CUDA_ERROR_NOT_SUPPORTED,"
                      + " cuMemHostRegister CUDA_ERROR_NOT_SUPPORTED)"),
          driver.name());
    } finally {
      refuse.invokeExact(0);
      driver.unpinned = null; // the ring the other tests use was pinned
      driver.free(target);
    }
  }

  /**
   * A small launch's blocks run with all their threads at once (here one block of 512 summing 1,000
   * values), so a reduction's barriers and its shared memory are exercised as on a GPU.
   */
  @Test
  void smallLaunchesRunWholeBlocksOfThreads() throws Throwable {
    float[] values = new float[1000];
    for (int i = 0; i < values.length; i++) {
      values[i] = i + 1;
    }
    MethodHandle again = stubFunction("stub_thread_blocks_again", FunctionDescriptor.ofVoid());
    again.invokeExact();
    long before = counters()[6];
    assertEquals(500500f, dev.fingerspell.tensor.Ops.sum(Tensor.of(GPU, values, 1000)).item());
    assertTrue(counters()[6] > before, "the sum's block did not run with its threads");
  }

  /** Asking for a GPU the driver does not have names the ones it does. */
  @Test
  void aGpuIndexBeyondTheDriversNamesTheOnesThereAre() {
    CudaLibraries.NotFound e =
        org.junit.jupiter.api.Assertions.assertThrows(
            CudaLibraries.NotFound.class, () -> CudaDriver.open(1, CudaProbe.run()));
    assertTrue(
        e.getMessage().startsWith("no GPU cuda:1 here: the driver has 1 (cuda:0). Found driver"),
        e.getMessage());
  }

  /** 20 MB each way: three chunks through the pinned ring, at the right offsets on both sides. */
  @Test
  void largeCopiesGoInChunksAndComeBackWhole() {
    float[] values = new float[5_000_000];
    for (int i = 0; i < values.length; i++) {
      values[i] = i * 0.5f;
    }
    Tensor x = Tensor.of(GPU, values, values.length);
    assertArrayEquals(values, x.toFloatArray());
    float[] tail = new float[1000];
    System.arraycopy(values, values.length - 1000, tail, 0, 1000);
    assertArrayEquals(tail, x.narrowRows(values.length - 1000, values.length).toFloatArray());
  }
}

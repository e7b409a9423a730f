package dev.fingerspell.cuda;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;

/**
 * Our kernels compiled for the host ({@code src/test/emulator/cuda_host.h} says how) standing in
 * for a GPU: "device" memory is native host memory, a launch calls the kernel's C function once per
 * block, each block a single thread, and copies between pinned and device memory wait in a queue as
 * they would on a stream. The CUDA backend runs on it unchanged but for cuDNN and cuBLAS, which it
 * does not have; {@code -Dfingerspell.cuda.emulator=LIBRARY} selects it. For tests
 * (EmulatedKernelsTest) and for debugging a kernel with host tools; it says nothing about speed.
 */
@SuppressWarnings("restricted") // loading the compiled kernels and calling them is the point
final class HostEmulator implements DeviceApi {
  private static final long CAPACITY = 1L << 30;

  private final Path library;
  private final SymbolLookup kernels;
  private final MethodHandle launchBlock;
  private final Map<Long, Block> blocks = new HashMap<>();
  private final Map<String, MethodHandle> functions = new HashMap<>();
  private final ArrayDeque<Runnable> transfers = new ArrayDeque<>();
  private long transfersRun; // run so far, counting from the first ever queued
  private long used;

  /** A block of native memory and the arena that frees it. */
  private record Block(Arena arena, long bytes) {}

  HostEmulator(Path library) {
    this.library = library;
    this.kernels = SymbolLookup.libraryLookup(library, Arena.global());
    this.launchBlock =
        Linker.nativeLinker()
            .downcallHandle(
                kernels.find("emu_launch_block").orElseThrow(),
                FunctionDescriptor.ofVoid(JAVA_INT, JAVA_INT));
  }

  @Override
  public String name() {
    return "host emulator (" + library.getFileName() + ")";
  }

  @Override
  public int ordinal() {
    return 0;
  }

  @Override
  public void bind() {}

  @Override
  public synchronized DevicePointer tryAlloc(long bytes) {
    if (used + bytes > CAPACITY) {
      return null;
    }
    Arena arena = Arena.ofShared();
    MemorySegment block = arena.allocate(Math.max(1, bytes), 256);
    blocks.put(block.address(), new Block(arena, bytes));
    used += bytes;
    return new DevicePointer(block.address());
  }

  @Override
  public synchronized void free(DevicePointer p) {
    drain();
    Block block = blocks.remove(p.address());
    if (block == null) {
      throw new IllegalStateException("free of an address never allocated: " + p.address());
    }
    used -= block.bytes();
    block.arena().close();
  }

  @Override
  public long[] memoryInfo() {
    return new long[] {CAPACITY - used, CAPACITY};
  }

  private static MemorySegment at(DevicePointer p, long offset, long bytes) {
    return MemorySegment.ofAddress(p.address() + offset).reinterpret(bytes);
  }

  @Override
  public void zero(DevicePointer p, long offset, long bytes) {
    drain();
    at(p, offset, bytes).fill((byte) 0);
  }

  @Override
  public MemorySegment allocatePinned(long bytes) {
    return Arena.global().allocate(bytes, 4096);
  }

  /**
   * Queued, not done: a copy between pinned and device memory runs only when something waits for
   * it, or before the next thing that is not such a copy. So a buffer reused before its event has
   * passed shows as wrong data here, as it might on a GPU.
   */
  @Override
  public synchronized void copyToDevice(DevicePointer dst, long offset, MemorySegment src) {
    long bytes = src.byteSize();
    transfers.add(() -> MemorySegment.copy(src, 0, at(dst, offset, bytes), 0, bytes));
  }

  @Override
  public synchronized void copyToHost(MemorySegment dst, DevicePointer src, long offset) {
    long bytes = dst.byteSize();
    transfers.add(() -> MemorySegment.copy(at(src, offset, bytes), 0, dst, 0, bytes));
  }

  @Override
  public Event newEvent(boolean timed) {
    return new EmulatedEvent();
  }

  /** How many transfers had been queued when recorded, and when (host time: no device clock). */
  private final class EmulatedEvent implements Event {
    private long mark;
    private long nanos;

    @Override
    public void record() {
      synchronized (HostEmulator.this) {
        mark = transfersRun + transfers.size();
        nanos = System.nanoTime();
      }
    }

    @Override
    public void await() {
      runTransfers(mark);
    }

    @Override
    public float millisSince(Event start) {
      return (nanos - ((EmulatedEvent) start).nanos) / 1e6f;
    }
  }

  /** Runs the queued transfers up to the {@code upTo}-th ever queued. */
  private synchronized void runTransfers(long upTo) {
    while (transfersRun < upTo && !transfers.isEmpty()) {
      transfers.removeFirst().run();
      transfersRun++;
    }
  }

  /** Runs every queued transfer: what comes next is ordered after them. */
  private void drain() {
    runTransfers(Long.MAX_VALUE);
  }

  @Override
  public void copy(
      DevicePointer dst, long dstOffset, DevicePointer src, long srcOffset, long bytes) {
    drain();
    MemorySegment.copy(at(src, srcOffset, bytes), 0, at(dst, dstOffset, bytes), 0, bytes);
  }

  @Override
  public void synchronize() {
    drain();
  }

  /** Runs the kernel's blocks one after another, each as one thread. */
  @Override
  public synchronized void launch(String kernel, int blocks, int threads, Object... args) {
    drain();
    MethodHandle fn = functions.computeIfAbsent(kernel, k -> handle(k, args));
    Object[] values = arguments(args);
    try {
      for (int b = 0; b < blocks; b++) {
        launchBlock.invokeExact(b, blocks);
        fn.invokeWithArguments(values);
      }
    } catch (RuntimeException | Error e) {
      throw e;
    } catch (Throwable t) {
      throw new IllegalStateException(kernel + ": " + t, t);
    }
  }

  private MethodHandle handle(String kernel, Object[] args) {
    MemoryLayout[] layouts = new MemoryLayout[args.length];
    for (int i = 0; i < args.length; i++) {
      layouts[i] =
          switch (args[i]) {
            case Long v ->
                JAVA_LONG; // pointers are 64-bit integers in the x86-64 calling convention
            case Integer v -> JAVA_INT;
            case Float v -> JAVA_FLOAT;
            // structs passed by value
            case long[] struct ->
                MemoryLayout.structLayout(MemoryLayout.sequenceLayout(struct.length, JAVA_LONG));
            case int[] struct ->
                MemoryLayout.structLayout(MemoryLayout.sequenceLayout(struct.length, JAVA_INT));
            default ->
                throw new IllegalArgumentException(
                    kernel + ": argument " + i + " is a " + args[i].getClass().getSimpleName());
          };
    }
    MemorySegment symbol =
        kernels
            .find(kernel)
            .orElseThrow(
                () -> new IllegalArgumentException("no kernel " + kernel + " in " + library));
    return Linker.nativeLinker().downcallHandle(symbol, FunctionDescriptor.ofVoid(layouts));
  }

  /** Structs as segments holding their fields; everything else as it is. */
  private static Object[] arguments(Object[] args) {
    Object[] out = args.clone();
    for (int i = 0; i < out.length; i++) {
      if (out[i] instanceof long[] struct) {
        out[i] = MemorySegment.ofArray(struct);
      } else if (out[i] instanceof int[] struct) {
        out[i] = MemorySegment.ofArray(struct);
      }
    }
    return out;
  }
}

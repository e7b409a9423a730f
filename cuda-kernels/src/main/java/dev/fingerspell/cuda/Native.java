package dev.fingerspell.cuda;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/** Downcall handles into an opened NVIDIA library, and calls that turn a bad status into text. */
@SuppressWarnings("restricted") // native calls are this class's purpose
final class Native {
  private static final Linker LINKER = Linker.nativeLinker();

  private Native() {}

  /** The handle for {@code name}; a library without it is named in the error. */
  static MethodHandle function(
      CudaLibraries.Opened lib, String name, FunctionDescriptor descriptor) {
    return function(lib.symbols(), lib.from(), name, descriptor);
  }

  static MethodHandle function(
      SymbolLookup symbols, String from, String name, FunctionDescriptor descriptor) {
    MemorySegment symbol =
        symbols
            .find(name)
            .orElseThrow(
                () ->
                    new CudaLibraries.NotFound(
                        from + " has no " + name + ": it is older than this backend needs"));
    return LINKER.downcallHandle(symbol, descriptor);
  }

  /**
   * A status-returning C function's parameters written as in its header: space-separated names,
   * each a pointer unless it says {@code :int}, {@code :long} ({@code size_t}) or {@code :double};
   * for example {@code "handle mode:int alpha x eps:double"}.
   */
  static FunctionDescriptor prototype(String parameters) {
    String[] names = parameters.trim().split("\\s+");
    MemoryLayout[] layouts = new MemoryLayout[names.length];
    for (int i = 0; i < names.length; i++) {
      String n = names[i];
      layouts[i] =
          n.endsWith(":int")
              ? ValueLayout.JAVA_INT
              : n.endsWith(":long")
                  ? ValueLayout.JAVA_LONG
                  : n.endsWith(":double") ? ValueLayout.JAVA_DOUBLE : ValueLayout.ADDRESS;
    }
    return FunctionDescriptor.of(ValueLayout.JAVA_INT, layouts);
  }

  /** Calls a function returning a status code. */
  static int status(MethodHandle fn, Object... args) {
    return (int) value(fn, args);
  }

  /** Calls a function returning something other than a status (a version, a string). */
  static Object value(MethodHandle fn, Object... args) {
    try {
      return fn.invokeWithArguments(args);
    } catch (RuntimeException | Error e) {
      throw e;
    } catch (Throwable t) {
      throw new IllegalStateException(t);
    }
  }

  /** A device address as the pointer argument a native function takes. */
  static MemorySegment pointer(long address) {
    return MemorySegment.ofAddress(address);
  }
}

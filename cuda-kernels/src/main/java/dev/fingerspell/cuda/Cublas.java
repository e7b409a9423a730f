package dev.fingerspell.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * cuBLAS (13, else 12) through {@code java.lang.foreign}: a handle, its math mode and SGEMM. cuBLAS
 * is column-major; {@link #gemmRowMajor} turns the engine's row-major product into the transposed
 * column-major one, so no data is ever transposed.
 */
final class Cublas {
  static final int OP_N = 0;
  static final int OP_T = 1;
  static final int DEFAULT_MATH = 0;
  static final int TF32_TENSOR_OP_MATH = 3;

  private final MethodHandle create;
  private final MethodHandle setMathMode;
  private final MethodHandle setStream;
  private final MethodHandle getProperty;
  private final MethodHandle sgemm;

  Cublas(CudaLibraries.Opened lib) {
    create = Native.function(lib, "cublasCreate_v2", Native.prototype("*handle"));
    setMathMode = Native.function(lib, "cublasSetMathMode", Native.prototype("handle mode:int"));
    setStream = Native.function(lib, "cublasSetStream_v2", Native.prototype("handle stream"));
    getProperty = Native.function(lib, "cublasGetProperty", Native.prototype("type:int *value"));
    sgemm =
        Native.function(
            lib,
            "cublasSgemm_v2",
            Native.prototype(
                "handle transa:int transb:int m:int n:int k:int *alpha A lda:int B ldb:int *beta C"
                    + " ldc:int"));
  }

  private static void check(int status, String call) {
    if (status != 0) {
      throw new CudaException("cuBLAS " + call + " failed with cublasStatus_t " + status, status);
    }
  }

  /** The version as major.minor.patch (needs no GPU). */
  String version() {
    return version(getProperty);
  }

  /** The version of an opened cuBLAS, without binding the rest (the probe asks this). */
  static String version(CudaLibraries.Opened lib) {
    return version(Native.function(lib, "cublasGetProperty", Native.prototype("type:int *value")));
  }

  private static String version(MethodHandle getProperty) {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment out = arena.allocate(JAVA_INT);
      StringBuilder v = new StringBuilder();
      for (int part = 0; part < 3; part++) { // MAJOR_VERSION, MINOR_VERSION, PATCH_LEVEL
        check(Native.status(getProperty, part, out), "cublasGetProperty");
        v.append(part == 0 ? "" : ".").append(out.get(JAVA_INT, 0));
      }
      return v.toString();
    }
  }

  /**
   * A handle on the current context, full float32 unless {@code tf32}, its calls queued on {@code
   * stream} (needs a GPU).
   */
  MemorySegment createHandle(boolean tf32, long stream) {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment out = arena.allocate(ADDRESS);
      check(Native.status(create, out), "cublasCreate");
      MemorySegment handle = out.get(ADDRESS, 0);
      check(
          Native.status(setMathMode, handle, tf32 ? TF32_TENSOR_OP_MATH : DEFAULT_MATH),
          "cublasSetMathMode");
      setStream(handle, stream);
      return handle;
    }
  }

  /** Puts a handle's calls on {@code stream}, a {@code cudaStream_t}. */
  void setStream(MemorySegment handle, long stream) {
    check(Native.status(setStream, handle, Native.pointer(stream)), "cublasSetStream");
  }

  /**
   * The column-major call that computes a row-major product: its first operand is B, its second A.
   */
  record ColumnMajorCall(int transA, int transB, int m, int n, int k, int lda, int ldb, int ldc) {}

  /**
   * Row-major {@code C[m,n] = op(A) op(B)} is column-major {@code C^T[n,m] = op(B)^T op(A)^T}: the
   * operands swap, the transposes stay, and each leading dimension is its row-major row length.
   */
  static ColumnMajorCall columnMajor(boolean transA, boolean transB, int m, int n, int k) {
    int lda = transA ? m : k; // row length of A as stored: [k, m] when transposed, else [m, k]
    int ldb = transB ? k : n; // [n, k] when transposed, else [k, n]
    return new ColumnMajorCall(transB ? OP_T : OP_N, transA ? OP_T : OP_N, n, m, k, ldb, lda, n);
  }

  /** Row-major {@code C = alpha op(A) op(B) + beta C} on device addresses. */
  void gemmRowMajor(
      MemorySegment handle,
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
    ColumnMajorCall call = columnMajor(transA, transB, m, n, k);
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment scalars = arena.allocate(JAVA_FLOAT, 2);
      scalars.set(JAVA_FLOAT, 0, alpha);
      scalars.set(JAVA_FLOAT, 4, beta);
      check(
          Native.status(
              sgemm,
              handle,
              call.transA(),
              call.transB(),
              call.m(),
              call.n(),
              call.k(),
              scalars.asSlice(0, 4),
              Native.pointer(b),
              call.lda(),
              Native.pointer(a),
              call.ldb(),
              scalars.asSlice(4, 4),
              Native.pointer(c),
              call.ldc()),
          "cublasSgemm");
    }
  }
}

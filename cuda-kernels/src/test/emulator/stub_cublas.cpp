// A stand-in for cuBLAS (libcublas.so.12) on the stub driver (stub_driver.cpp), whose device memory
// is host memory: the handle, math mode, stream and column-major SGEMM the CUDA backend calls,
// checked as cuBLAS checks them (leading dimensions, transposes), computed plainly in double. With
// it, Cublas and its row-major rewrite run through the real calling sequence: StubLibrariesTest.
#include <cstddef>

extern "C" {
void stub_library_call(void* stream);
int stub_device_range(unsigned long long p, size_t bytes);
}

namespace {
constexpr int SUCCESS = 0, NOT_INITIALIZED = 1, INVALID_VALUE = 7;
constexpr int OP_N = 0, OP_T = 1;

struct Handle {
  int magic = 0xb1a5;
  int math = 0;
  void* stream = nullptr;
};

Handle* handleOf(void* h) {
  auto p = static_cast<Handle*>(h);
  return p != nullptr && p->magic == 0xb1a5 ? p : nullptr;
}

// A column-major matrix of `rows` x `cols` with leading dimension ld lies in device memory.
bool inDevice(const float* p, int rows, int cols, int ld) {
  if (rows == 0 || cols == 0) return true;
  size_t floats = size_t(ld) * (cols - 1) + rows;
  return stub_device_range(reinterpret_cast<unsigned long long>(p), floats * 4);
}
}  // namespace

extern "C" {
int cublasCreate_v2(void** handle) {
  if (!handle) return INVALID_VALUE;
  *handle = new Handle();
  return SUCCESS;
}
int cublasSetMathMode(void* handle, int mode) {
  Handle* h = handleOf(handle);
  if (!h) return NOT_INITIALIZED;
  // CUBLAS_DEFAULT_MATH 0, TENSOR_OP 1, PEDANTIC 2, TF32_TENSOR_OP 3, | DISALLOW_REDUCED 16
  if ((mode & ~16) > 3) return INVALID_VALUE;
  h->math = mode;
  return SUCCESS;
}
int cublasSetStream_v2(void* handle, void* stream) {
  Handle* h = handleOf(handle);
  if (!h) return NOT_INITIALIZED;
  h->stream = stream;
  return SUCCESS;
}
int cublasGetProperty(int type, int* value) {
  static const int version[] = {12, 9, 1};  // MAJOR_VERSION, MINOR_VERSION, PATCH_LEVEL
  if (type < 0 || type > 2) return INVALID_VALUE;
  *value = version[type];
  return SUCCESS;
}

// C[m,n] = alpha op(A)[m,k] op(B)[k,n] + beta C, all column-major.
int cublasSgemm_v2(void* handle, int transa, int transb, int m, int n, int k, const float* alpha,
                   const float* a, int lda, const float* b, int ldb, const float* beta, float* c,
                   int ldc) {
  Handle* h = handleOf(handle);
  if (!h) return NOT_INITIALIZED;
  stub_library_call(h->stream);
  if ((transa != OP_N && transa != OP_T) || (transb != OP_N && transb != OP_T) || m < 0 || n < 0 ||
      k < 0)
    return INVALID_VALUE;
  int aRows = transa == OP_N ? m : k, aCols = transa == OP_N ? k : m;
  int bRows = transb == OP_N ? k : n, bCols = transb == OP_N ? n : k;
  if (lda < (aRows > 1 ? aRows : 1) || ldb < (bRows > 1 ? bRows : 1) || ldc < (m > 1 ? m : 1))
    return INVALID_VALUE;
  if (!inDevice(a, aRows, aCols, lda) || !inDevice(b, bRows, bCols, ldb) ||
      !inDevice(c, m, n, ldc))
    return INVALID_VALUE;
  for (int j = 0; j < n; j++)
    for (int i = 0; i < m; i++) {
      double sum = 0;
      for (int l = 0; l < k; l++) {
        double av = transa == OP_N ? a[i + size_t(l) * lda] : a[l + size_t(i) * lda];
        double bv = transb == OP_N ? b[l + size_t(j) * ldb] : b[j + size_t(l) * ldb];
        sum += av * bv;
      }
      float& out = c[i + size_t(j) * ldc];
      out = float(*alpha * sum + (*beta != 0 ? *beta * double(out) : 0.0));
    }
  return SUCCESS;
}
}

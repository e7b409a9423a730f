// A stand-in for cuDNN 9 (libcudnn.so.9) on the stub driver (stub_driver.cpp), whose device memory
// is host memory: the legacy-API calls the CUDA backend makes, computed plainly on the host, and
// checked the way cuDNN checks them. With it, GpuLibraries and the Cudnn bindings (descriptor
// plumbing, operand order per pass, algorithm choice, workspace, the fused call and its fallback,
// batch norm's arguments) run before a GPU sees them: StubLibrariesTest. Statuses, enum values and
// the algorithm-query struct are cuDNN 9's; the arithmetic is the definition, in double.
#include <cmath>
#include <cstddef>
#include <cstring>
#include <vector>

extern "C" {
void stub_library_call(void* stream);
int stub_device_range(unsigned long long p, size_t bytes);
}

namespace {
// cuDNN 9's status codes (cudnn_graph.h), not cuDNN 8's small ones.
constexpr int SUCCESS = 0, NOT_INITIALIZED = 1001, BAD_PARAM = 2000, NOT_SUPPORTED = 3000;
constexpr int NCHW = 0, FLOAT = 0, CROSS_CORRELATION = 1, SPATIAL = 1;
constexpr int ACT_RELU = 1, ACT_IDENTITY = 5, IMPLICIT_PRECOMP_GEMM = 1;

// Every descriptor starts with its kind, so that one passed where another is expected (operands in
// the wrong order) is BAD_PARAM, as cuDNN's own type checks make it.
enum Kind { TENSOR = 0x7e45, FILTER, CONVOLUTION, ACTIVATION, HANDLE };
struct Handle {
  Kind kind = HANDLE;
  void* stream = nullptr;
};
struct Tensor {
  Kind kind = TENSOR;
  bool set = false;
  int n = 0, c = 0, h = 0, w = 0;
  size_t count() const { return size_t(n) * c * h * w; }
};
struct Filter {
  Kind kind = FILTER;
  bool set = false;
  int k = 0, c = 0, r = 0, s = 0;
  size_t count() const { return size_t(k) * c * r * s; }
};
struct Conv {
  Kind kind = CONVOLUTION;
  bool set = false;
  int padH = 0, padW = 0, u = 1, v = 1, dilH = 1, dilW = 1;
  int math = 0;
};
struct Activation {
  Kind kind = ACTIVATION;
  bool set = false;
  int mode = 0;
};

template <typename T>
T* as(const void* p, Kind kind) {
  auto t = static_cast<T*>(const_cast<void*>(p));
  return t != nullptr && t->kind == kind ? t : nullptr;
}

// For tests: decline the fused call (NOT_SUPPORTED), as cuDNN does for some shapes.
bool declineFused = false;

// The algorithms the queries rank, best first, as cuDNN's heuristics do: the first is not supported
// here (the backend must pass it over), the second needs a workspace (sized by the shape, so that
// the shared workspace grows), the third none.
struct Ranked {
  int algo, status;
  size_t bytes;
};
std::vector<Ranked> ranking(const Tensor* x, const Filter* w) {
  size_t bytes = size_t(x->c) * w->r * w->s * 4 * 64;
  return {{6, NOT_SUPPORTED, 0}, {IMPLICIT_PRECOMP_GEMM, SUCCESS, bytes}, {0, SUCCESS, 0}};
}
size_t workspaceFor(const Tensor* x, const Filter* w, int algo) {
  for (const Ranked& r : ranking(x, w)) {
    if (r.algo == algo) return r.bytes;
  }
  return 0;
}

int outputDim(const Conv* cv, const Tensor* x, const Filter* w, int* out) {
  if (!cv || !cv->set || !x || !x->set || !w || !w->set || x->c != w->c) return BAD_PARAM;
  int eh = cv->dilH * (w->r - 1) + 1, ew = cv->dilW * (w->s - 1) + 1;
  out[0] = x->n;
  out[1] = w->k;
  out[2] = (x->h + 2 * cv->padH - eh) / cv->u + 1;
  out[3] = (x->w + 2 * cv->padW - ew) / cv->v + 1;
  return out[2] > 0 && out[3] > 0 ? SUCCESS : BAD_PARAM;
}

// The descriptors of one convolution, checked against each other as cuDNN does.
int shapes(const void* conv, const void* xd, const void* wd, const void* yd, const Conv** cv,
           const Tensor** x, const Filter** w, const Tensor** y) {
  *cv = as<Conv>(conv, CONVOLUTION);
  *x = as<Tensor>(xd, TENSOR);
  *w = as<Filter>(wd, FILTER);
  *y = as<Tensor>(yd, TENSOR);
  if (!*cv || !*x || !*w || !*y || !(*y)->set) return BAD_PARAM;
  int out[4];
  int status = outputDim(*cv, *x, *w, out);
  if (status != SUCCESS) return status;
  const Tensor* t = *y;
  return t->n == out[0] && t->c == out[1] && t->h == out[2] && t->w == out[3] ? SUCCESS : BAD_PARAM;
}

bool inDevice(const void* p, size_t floats) {
  return p != nullptr && stub_device_range(reinterpret_cast<unsigned long long>(p), floats * 4);
}

Handle* call(void* handle) {
  Handle* h = as<Handle>(handle, HANDLE);
  if (h) stub_library_call(h->stream);
  return h;
}

// out = alpha * value + beta * out, reading out only when beta is not 0 (as cuDNN does).
void blend(float* out, size_t i, double value, float alpha, float beta) {
  out[i] = float(alpha * value + (beta != 0 ? beta * out[i] : 0.0));
}

// The convolution's input index for output (oh, ow) and filter tap (r, s), or -1 in the padding.
long inputAt(const Conv* cv, const Tensor* x, int oh, int ow, int r, int s) {
  int ih = oh * cv->u - cv->padH + r * cv->dilH, iw = ow * cv->v - cv->padW + s * cv->dilW;
  return ih < 0 || ih >= x->h || iw < 0 || iw >= x->w ? -1 : long(ih) * x->w + iw;
}

// Calls tap(yi, xi, wi) with the flat indices of every output element, input element and weight
// that meet in the convolution (taps in the padding left out): each pass is one sum over them.
template <typename Tap>
void eachTap(const Conv* cv, const Tensor* x, const Filter* w, const Tensor* y, Tap tap) {
  size_t inPlane = size_t(x->h) * x->w;
  for (int n = 0; n < y->n; n++)
    for (int k = 0; k < y->c; k++)
      for (int oh = 0; oh < y->h; oh++)
        for (int ow = 0; ow < y->w; ow++) {
          size_t yi = ((size_t(n) * y->c + k) * y->h + oh) * y->w + ow;
          for (int c = 0; c < x->c; c++)
            for (int r = 0; r < w->r; r++)
              for (int s = 0; s < w->s; s++) {
                long i = inputAt(cv, x, oh, ow, r, s);
                if (i >= 0)
                  tap(yi, (size_t(n) * x->c + c) * inPlane + i,
                      ((size_t(k) * w->c + c) * w->r + r) * w->s + s);
              }
        }
}

// y before alpha and beta: the cross-correlation of x and w.
std::vector<double> correlate(const Conv* cv, const Tensor* x, const float* xs, const Filter* w,
                              const float* ws, const Tensor* y) {
  std::vector<double> acc(y->count());
  eachTap(cv, x, w, y,
          [&](size_t yi, size_t xi, size_t wi) { acc[yi] += double(xs[xi]) * ws[wi]; });
  return acc;
}

int workspaceOk(const Tensor* x, const Filter* w, int algo, const void* workspace, size_t bytes) {
  size_t need = workspaceFor(x, w, algo);
  if (bytes < need) return BAD_PARAM;
  if (need > 0 && !stub_device_range(reinterpret_cast<unsigned long long>(workspace), bytes))
    return BAD_PARAM;
  return SUCCESS;
}

int algoOk(const Tensor* x, const Filter* w, int algo) {
  for (const Ranked& r : ranking(x, w)) {
    if (r.algo == algo) return r.status;
  }
  return BAD_PARAM;
}

// The perf results of a query: cudnnConvolution*AlgoPerf_t, 48 bytes each.
int rank(const Tensor* x, const Filter* w, int requested, int* returned, char* perf) {
  if (requested < 1 || !returned || !perf) return BAD_PARAM;
  std::vector<Ranked> r = ranking(x, w);
  int count = requested < int(r.size()) ? requested : int(r.size());
  for (int i = 0; i < count; i++) {
    char* p = perf + 48 * i;
    std::memset(p, 0, 48);
    float time = 0.1f * (i + 1);
    size_t bytes = r[i].bytes;
    int deterministic = 1, math = 3;  // CUDNN_FMA_MATH
    std::memcpy(p, &r[i].algo, 4);
    std::memcpy(p + 4, &r[i].status, 4);
    std::memcpy(p + 8, &time, 4);
    std::memcpy(p + 16, &bytes, 8);
    std::memcpy(p + 24, &deterministic, 4);
    std::memcpy(p + 28, &math, 4);
  }
  *returned = count;
  return SUCCESS;
}

int bnShapes(int mode, const void* xd, const void* yd, const void* bnd, const Tensor** x,
             const Tensor** bn) {
  *x = as<Tensor>(xd, TENSOR);
  const Tensor* y = as<Tensor>(yd, TENSOR);
  *bn = as<Tensor>(bnd, TENSOR);
  if (mode != SPATIAL || !*x || !y || !*bn || !(*x)->set || !y->set || !(*bn)->set)
    return BAD_PARAM;
  const Tensor *a = *x, *b = *bn;
  if (y->n != a->n || y->c != a->c || y->h != a->h || y->w != a->w) return BAD_PARAM;
  return b->n == 1 && b->c == a->c && b->h == 1 && b->w == 1 ? SUCCESS : BAD_PARAM;
}

// Per channel mean and 1/sqrt(var + eps) (biased variance), over n, h, w.
void statistics(const Tensor* x, const float* xs, double eps, std::vector<double>& mean,
                std::vector<double>& var, std::vector<double>& invStd) {
  size_t plane = size_t(x->h) * x->w, m = plane * x->n;
  mean.assign(x->c, 0);
  var.assign(x->c, 0);
  invStd.assign(x->c, 0);
  for (int c = 0; c < x->c; c++) {
    double sum = 0, sq = 0;
    for (int n = 0; n < x->n; n++)
      for (size_t i = 0; i < plane; i++) sum += xs[(size_t(n) * x->c + c) * plane + i];
    double mu = sum / m;
    for (int n = 0; n < x->n; n++)
      for (size_t i = 0; i < plane; i++) {
        double d = xs[(size_t(n) * x->c + c) * plane + i] - mu;
        sq += d * d;
      }
    mean[c] = mu;
    var[c] = sq / m;
    invStd[c] = 1 / std::sqrt(var[c] + eps);
  }
}

// One convolution's descriptors in (x, w, y) roles, whatever the pass: a query's common part.
int query(void* handle, const void* conv, const void* xd, const void* wd, const void* yd,
          int requested, int* returned, char* perf) {
  const Conv* cv;
  const Tensor *x, *y;
  const Filter* w;
  if (!as<Handle>(handle, HANDLE)) return BAD_PARAM;
  int status = shapes(conv, xd, wd, yd, &cv, &x, &w, &y);
  return status != SUCCESS ? status : rank(x, w, requested, returned, perf);
}
int workspaceQuery(void* handle, const void* conv, const void* xd, const void* wd, const void* yd,
                   int algo, size_t* bytes) {
  const Conv* cv;
  const Tensor *x, *y;
  const Filter* w;
  if (!as<Handle>(handle, HANDLE)) return BAD_PARAM;
  int status = shapes(conv, xd, wd, yd, &cv, &x, &w, &y);
  if (status == SUCCESS) *bytes = workspaceFor(x, w, algo);
  return status;
}

// A pass's checks before it computes: the handle (the call counted on its stream), the
// descriptors in (x, w, y) roles, the algorithm and its workspace.
int pass(void* handle, const void* conv, const void* xd, const void* wd, const void* yd, int algo,
         const void* workspace, size_t bytes, const Conv** cv, const Tensor** x, const Filter** w,
         const Tensor** y) {
  if (!call(handle)) return BAD_PARAM;
  int status = shapes(conv, xd, wd, yd, cv, x, w, y);
  if (status == SUCCESS) status = algoOk(*x, *w, algo);
  if (status == SUCCESS) status = workspaceOk(*x, *w, algo, workspace, bytes);
  return status;
}
}  // namespace

extern "C" {
size_t cudnnGetVersion() { return 91300; }
size_t cudnnGetCudartVersion() { return 12060; }

const char* cudnnGetErrorString(int status) {
  switch (status) {
    case SUCCESS: return "CUDNN_STATUS_SUCCESS";
    case NOT_INITIALIZED: return "CUDNN_STATUS_NOT_INITIALIZED";
    case BAD_PARAM: return "CUDNN_STATUS_BAD_PARAM";
    case NOT_SUPPORTED: return "CUDNN_STATUS_NOT_SUPPORTED";
    default: return "CUDNN_STATUS_UNKNOWN";
  }
}

int cudnnCreate(void** handle) {
  if (!handle) return BAD_PARAM;
  *handle = new Handle();
  return SUCCESS;
}
int cudnnSetStream(void* handle, void* stream) {
  Handle* h = as<Handle>(handle, HANDLE);
  if (!h) return BAD_PARAM;
  h->stream = stream;
  return SUCCESS;
}

int cudnnCreateTensorDescriptor(void** d) { return *d = new Tensor(), SUCCESS; }
int cudnnSetTensor4dDescriptor(void* d, int format, int type, int n, int c, int h, int w) {
  Tensor* t = as<Tensor>(d, TENSOR);
  if (!t || format != NCHW || type != FLOAT || n < 1 || c < 1 || h < 1 || w < 1) return BAD_PARAM;
  *t = Tensor();
  t->set = true, t->n = n, t->c = c, t->h = h, t->w = w;
  return SUCCESS;
}
int cudnnCreateFilterDescriptor(void** d) { return *d = new Filter(), SUCCESS; }
int cudnnSetFilter4dDescriptor(void* d, int type, int format, int k, int c, int r, int s) {
  Filter* f = as<Filter>(d, FILTER);
  if (!f || format != NCHW || type != FLOAT || k < 1 || c < 1 || r < 1 || s < 1) return BAD_PARAM;
  f->set = true, f->k = k, f->c = c, f->r = r, f->s = s;
  return SUCCESS;
}
int cudnnCreateConvolutionDescriptor(void** d) { return *d = new Conv(), SUCCESS; }
int cudnnSetConvolution2dDescriptor(void* d, int padH, int padW, int u, int v, int dilH, int dilW,
                                    int mode, int type) {
  Conv* cv = as<Conv>(d, CONVOLUTION);
  if (!cv || padH < 0 || padW < 0 || u < 1 || v < 1 || dilH < 1 || dilW < 1 ||
      mode != CROSS_CORRELATION || type != FLOAT)
    return BAD_PARAM;
  cv->set = true, cv->padH = padH, cv->padW = padW, cv->u = u, cv->v = v, cv->dilH = dilH,
  cv->dilW = dilW;
  return SUCCESS;
}
int cudnnSetConvolutionMathType(void* d, int math) {
  Conv* cv = as<Conv>(d, CONVOLUTION);
  if (!cv || math < 0 || math > 3) return BAD_PARAM;
  cv->math = math;
  return SUCCESS;
}
int cudnnGetConvolution2dForwardOutputDim(const void* conv, const void* x, const void* w, int* n,
                                          int* c, int* h, int* wo) {
  int out[4];
  int status = outputDim(as<Conv>(conv, CONVOLUTION), as<Tensor>(x, TENSOR), as<Filter>(w, FILTER),
                         out);
  if (status == SUCCESS) *n = out[0], *c = out[1], *h = out[2], *wo = out[3];
  return status;
}
int cudnnCreateActivationDescriptor(void** d) { return *d = new Activation(), SUCCESS; }
int cudnnSetActivationDescriptor(void* d, int mode, int nan, double) {
  Activation* a = as<Activation>(d, ACTIVATION);
  if (!a || (mode != ACT_RELU && mode != ACT_IDENTITY) || nan < 0 || nan > 1) return BAD_PARAM;
  a->set = true, a->mode = mode;
  return SUCCESS;
}

// ---- algorithm and workspace queries (operands in each pass's order) -------------------------

int cudnnGetConvolutionForwardAlgorithm_v7(void* handle, const void* x, const void* w,
                                           const void* conv, const void* y, int requested,
                                           int* returned, char* perf) {
  return query(handle, conv, x, w, y, requested, returned, perf);
}
int cudnnGetConvolutionBackwardDataAlgorithm_v7(void* handle, const void* w, const void* dy,
                                                const void* conv, const void* dx, int requested,
                                                int* returned, char* perf) {
  return query(handle, conv, dx, w, dy, requested, returned, perf);
}
int cudnnGetConvolutionBackwardFilterAlgorithm_v7(void* handle, const void* x, const void* dy,
                                                  const void* conv, const void* dw, int requested,
                                                  int* returned, char* perf) {
  return query(handle, conv, x, dw, dy, requested, returned, perf);
}
int cudnnGetConvolutionForwardWorkspaceSize(void* handle, const void* x, const void* w,
                                            const void* conv, const void* y, int algo,
                                            size_t* bytes) {
  return workspaceQuery(handle, conv, x, w, y, algo, bytes);
}
int cudnnGetConvolutionBackwardDataWorkspaceSize(void* handle, const void* w, const void* dy,
                                                 const void* conv, const void* dx, int algo,
                                                 size_t* bytes) {
  return workspaceQuery(handle, conv, dx, w, dy, algo, bytes);
}
int cudnnGetConvolutionBackwardFilterWorkspaceSize(void* handle, const void* x, const void* dy,
                                                   const void* conv, const void* dw, int algo,
                                                   size_t* bytes) {
  return workspaceQuery(handle, conv, x, dw, dy, algo, bytes);
}

// ---- the convolution passes ------------------------------------------------------------------

int cudnnConvolutionForward(void* handle, const float* alpha, const void* xd, const float* x,
                            const void* wd, const float* w, const void* conv, int algo,
                            void* workspace, size_t bytes, const float* beta, const void* yd,
                            float* y) {
  const Conv* cv;
  const Tensor *xt, *yt;
  const Filter* wt;
  int status = pass(handle, conv, xd, wd, yd, algo, workspace, bytes, &cv, &xt, &wt, &yt);
  if (status != SUCCESS) return status;
  if (!inDevice(x, xt->count()) || !inDevice(w, wt->count()) || !inDevice(y, yt->count()))
    return BAD_PARAM;
  std::vector<double> acc = correlate(cv, xt, x, wt, w, yt);
  for (size_t i = 0; i < acc.size(); i++) blend(y, i, acc[i], *alpha, *beta);
  return SUCCESS;
}

int cudnnConvolutionBackwardData(void* handle, const float* alpha, const void* wd, const float* w,
                                 const void* dyd, const float* dy, const void* conv, int algo,
                                 void* workspace, size_t bytes, const float* beta, const void* dxd,
                                 float* dx) {
  const Conv* cv;
  const Tensor *xt, *yt;
  const Filter* wt;
  int status = pass(handle, conv, dxd, wd, dyd, algo, workspace, bytes, &cv, &xt, &wt, &yt);
  if (status != SUCCESS) return status;
  if (!inDevice(dx, xt->count()) || !inDevice(w, wt->count()) || !inDevice(dy, yt->count()))
    return BAD_PARAM;
  std::vector<double> acc(xt->count());
  eachTap(cv, xt, wt, yt,
          [&](size_t yi, size_t xi, size_t wi) { acc[xi] += double(dy[yi]) * w[wi]; });
  for (size_t i = 0; i < acc.size(); i++) blend(dx, i, acc[i], *alpha, *beta);
  return SUCCESS;
}

int cudnnConvolutionBackwardFilter(void* handle, const float* alpha, const void* xd, const float* x,
                                   const void* dyd, const float* dy, const void* conv, int algo,
                                   void* workspace, size_t bytes, const float* beta,
                                   const void* dwd, float* dw) {
  const Conv* cv;
  const Tensor *xt, *yt;
  const Filter* wt;
  int status = pass(handle, conv, xd, dwd, dyd, algo, workspace, bytes, &cv, &xt, &wt, &yt);
  if (status != SUCCESS) return status;
  if (!inDevice(x, xt->count()) || !inDevice(dw, wt->count()) || !inDevice(dy, yt->count()))
    return BAD_PARAM;
  std::vector<double> acc(wt->count());
  eachTap(cv, xt, wt, yt,
          [&](size_t yi, size_t xi, size_t wi) { acc[wi] += double(dy[yi]) * x[xi]; });
  for (size_t i = 0; i < acc.size(); i++) blend(dw, i, acc[i], *alpha, *beta);
  return SUCCESS;
}

// y = act(alpha1 * conv(x, w) + alpha2 * z + bias).
int cudnnConvolutionBiasActivationForward(void* handle, const float* alpha1, const void* xd,
                                          const float* x, const void* wd, const float* w,
                                          const void* conv, int algo, void* workspace,
                                          size_t bytes, const float* alpha2, const void* zd,
                                          const float* z, const void* biasd, const float* bias,
                                          const void* act, const void* yd, float* y) {
  const Conv* cv;
  const Tensor *xt, *yt;
  const Filter* wt;
  int status = pass(handle, conv, xd, wd, yd, algo, workspace, bytes, &cv, &xt, &wt, &yt);
  if (status != SUCCESS) return status;
  const Tensor* zt = as<Tensor>(zd, TENSOR);
  const Tensor* bt = as<Tensor>(biasd, TENSOR);
  const Activation* a = as<Activation>(act, ACTIVATION);
  if (!zt || !bt || !a || !a->set || zt->n != yt->n || zt->c != yt->c || zt->h != yt->h ||
      zt->w != yt->w || bt->n != 1 || bt->c != yt->c || bt->h != 1 || bt->w != 1)
    return BAD_PARAM;
  if (a->mode == ACT_IDENTITY && algo != IMPLICIT_PRECOMP_GEMM) return NOT_SUPPORTED;
  if (declineFused) return NOT_SUPPORTED;
  if (!inDevice(x, xt->count()) || !inDevice(w, wt->count()) || !inDevice(y, yt->count()) ||
      !inDevice(z, zt->count()) || !inDevice(bias, yt->c))
    return BAD_PARAM;
  std::vector<double> acc = correlate(cv, xt, x, wt, w, yt);
  size_t plane = size_t(yt->h) * yt->w;
  for (size_t i = 0; i < acc.size(); i++) {
    double v = *alpha1 * acc[i] + (*alpha2 != 0 ? *alpha2 * double(z[i]) : 0.0) +
               bias[(i / plane) % yt->c];
    y[i] = float(a->mode == ACT_RELU && v < 0 ? 0.0 : v);
  }
  return SUCCESS;
}

int cudnnConvolutionBackwardBias(void* handle, const float* alpha, const void* dyd,
                                 const float* dy, const float* beta, const void* dbd, float* db) {
  if (!call(handle)) return BAD_PARAM;
  const Tensor* yt = as<Tensor>(dyd, TENSOR);
  const Tensor* bt = as<Tensor>(dbd, TENSOR);
  if (!yt || !bt || !yt->set || bt->n != 1 || bt->c != yt->c || bt->h != 1 || bt->w != 1)
    return BAD_PARAM;
  if (!inDevice(dy, yt->count()) || !inDevice(db, bt->c)) return BAD_PARAM;
  size_t plane = size_t(yt->h) * yt->w;
  for (int k = 0; k < yt->c; k++) {
    double sum = 0;
    for (int n = 0; n < yt->n; n++)
      for (size_t i = 0; i < plane; i++) sum += dy[(size_t(n) * yt->c + k) * plane + i];
    blend(db, k, sum, *alpha, *beta);
  }
  return SUCCESS;
}

// ---- batch norm (spatial) --------------------------------------------------------------------

int cudnnBatchNormalizationForwardTraining(void* handle, int mode, const float* alpha,
                                           const float* beta, const void* xd, const float* x,
                                           const void* yd, float* y, const void* bnd,
                                           const float* scale, const float* bias, double factor,
                                           float* runningMean, float* runningVar, double eps,
                                           float* saveMean, float* saveInvVar) {
  const Tensor *xt, *bt;
  if (!call(handle)) return BAD_PARAM;
  int status = bnShapes(mode, xd, yd, bnd, &xt, &bt);
  if (status != SUCCESS) return status;
  // CUDNN_BN_MIN_EPSILON is 0 since cuDNN 8; running statistics both or neither
  if (!(eps >= 0) || (runningMean == nullptr) != (runningVar == nullptr)) return BAD_PARAM;
  int c = xt->c;
  if (!inDevice(x, xt->count()) || !inDevice(y, xt->count()) || !inDevice(scale, c) ||
      !inDevice(bias, c) ||
      (runningMean && (!inDevice(runningMean, c) || !inDevice(runningVar, c))) ||
      (saveMean && !inDevice(saveMean, c)) || (saveInvVar && !inDevice(saveInvVar, c)))
    return BAD_PARAM;
  std::vector<double> mean, var, invStd;
  statistics(xt, x, eps, mean, var, invStd);
  size_t plane = size_t(xt->h) * xt->w, m = plane * xt->n;
  for (int n = 0; n < xt->n; n++)
    for (int ch = 0; ch < c; ch++)
      for (size_t i = 0; i < plane; i++) {
        size_t at = (size_t(n) * c + ch) * plane + i;
        blend(y, at, scale[ch] * (x[at] - mean[ch]) * invStd[ch] + bias[ch], *alpha, *beta);
      }
  for (int ch = 0; ch < c; ch++) {
    if (runningMean) {
      runningMean[ch] = float((1 - factor) * runningMean[ch] + factor * mean[ch]);
      double unbiased = m > 1 ? var[ch] * m / (m - 1) : var[ch];
      runningVar[ch] = float((1 - factor) * runningVar[ch] + factor * unbiased);
    }
    if (saveMean) saveMean[ch] = float(mean[ch]);
    if (saveInvVar) saveInvVar[ch] = float(invStd[ch]);
  }
  return SUCCESS;
}

int cudnnBatchNormalizationForwardInference(void* handle, int mode, const float* alpha,
                                            const float* beta, const void* xd, const float* x,
                                            const void* yd, float* y, const void* bnd,
                                            const float* scale, const float* bias,
                                            const float* mean, const float* var, double eps) {
  const Tensor *xt, *bt;
  if (!call(handle)) return BAD_PARAM;
  int status = bnShapes(mode, xd, yd, bnd, &xt, &bt);
  if (status != SUCCESS) return status;
  int c = xt->c;
  if (!(eps >= 0) || !inDevice(x, xt->count()) || !inDevice(y, xt->count()) ||
      !inDevice(scale, c) || !inDevice(bias, c) || !inDevice(mean, c) || !inDevice(var, c))
    return BAD_PARAM;
  size_t plane = size_t(xt->h) * xt->w;
  for (int n = 0; n < xt->n; n++)
    for (int ch = 0; ch < c; ch++)
      for (size_t i = 0; i < plane; i++) {
        size_t at = (size_t(n) * c + ch) * plane + i;
        double v = scale[ch] * (x[at] - double(mean[ch])) / std::sqrt(double(var[ch]) + eps);
        blend(y, at, v + bias[ch], *alpha, *beta);
      }
  return SUCCESS;
}

int cudnnBatchNormalizationBackward(void* handle, int mode, const float* alphaData,
                                    const float* betaData, const float* alphaParam,
                                    const float* betaParam, const void* xd, const float* x,
                                    const void* dyd, const float* dy, const void* dxd, float* dx,
                                    const void* bnd, const float* scale, float* dScale,
                                    float* dBias, double eps, const float* savedMean,
                                    const float* savedInvVar) {
  const Tensor *xt, *bt;
  if (!call(handle)) return BAD_PARAM;
  int status = bnShapes(mode, xd, dyd, bnd, &xt, &bt);
  if (status == SUCCESS) status = bnShapes(mode, xd, dxd, bnd, &xt, &bt);
  if (status != SUCCESS) return status;
  int c = xt->c;
  if (!(eps >= 0) || (savedMean == nullptr) != (savedInvVar == nullptr) ||
      !inDevice(x, xt->count()) || !inDevice(dy, xt->count()) || !inDevice(dx, xt->count()) ||
      !inDevice(scale, c) || !inDevice(dScale, c) || !inDevice(dBias, c) ||
      (savedMean && (!inDevice(savedMean, c) || !inDevice(savedInvVar, c))))
    return BAD_PARAM;
  std::vector<double> mean, var, invStd;
  statistics(xt, x, eps, mean, var, invStd);
  if (savedMean) {
    for (int ch = 0; ch < c; ch++) mean[ch] = savedMean[ch], invStd[ch] = savedInvVar[ch];
  }
  size_t plane = size_t(xt->h) * xt->w, m = plane * xt->n;
  for (int ch = 0; ch < c; ch++) {
    double sumDy = 0, sumDyXhat = 0;
    for (int n = 0; n < xt->n; n++)
      for (size_t i = 0; i < plane; i++) {
        size_t at = (size_t(n) * c + ch) * plane + i;
        sumDy += dy[at];
        sumDyXhat += dy[at] * (x[at] - mean[ch]) * invStd[ch];
      }
    for (int n = 0; n < xt->n; n++)
      for (size_t i = 0; i < plane; i++) {
        size_t at = (size_t(n) * c + ch) * plane + i;
        double xhat = (x[at] - mean[ch]) * invStd[ch];
        double g = scale[ch] * invStd[ch] / m * (m * double(dy[at]) - sumDy - xhat * sumDyXhat);
        blend(dx, at, g, *alphaData, *betaData);
      }
    blend(dScale, ch, sumDyXhat, *alphaParam, *betaParam);
    blend(dBias, ch, sumDy, *alphaParam, *betaParam);
  }
  return SUCCESS;
}

// For tests: decline (1) or accept (0) the fused call from now on.
void stub_cudnn_decline_fused(int decline) { declineFused = decline != 0; }
}

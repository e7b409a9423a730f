// Fingerspell's own CUDA kernels: everything the CUDA backend does not hand to cuDNN or cuBLAS.
// Each mirrors the CPU backend's op of the same name (dev.fingerspell.tensor.cpu), on contiguous
// float32 arrays; element counts are 64-bit and loops are grid-stride, so any launch size works.
// Built by cuda-kernels/build-kernels.sh into a fatbin kept in src/main/resources.

#include <cstdint>

#define GRID_STRIDE(i, n) \
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
       i += (long long)blockDim.x * gridDim.x)

// ---- element-wise --------------------------------------------------------------------------

extern "C" __global__ void fill_f32(float* x, float value, long long n) {
  GRID_STRIDE(i, n) { x[i] = value; }
}

// y = alpha * x + beta * y; with beta == 0, y is not read (NaN in it does not survive).
extern "C" __global__ void axpby_f32(float alpha, const float* x, float beta, float* y,
                                     long long n) {
  GRID_STRIDE(i, n) { y[i] = beta == 0.f ? alpha * x[i] : alpha * x[i] + beta * y[i]; }
}

// Broadcasting: out's shape and two inputs' strides (0 along stretched dimensions), by value.
struct Broadcast {
  long long rank;
  long long shape[8];
  long long a[8];
  long long b[8];
};

// out = a + b, a and b read through their broadcast strides.
extern "C" __global__ void add_broadcast_f32(const float* a, const float* b, float* out,
                                             Broadcast sh, long long n) {
  GRID_STRIDE(i, n) {
    long long rest = i, ai = 0, bi = 0;
    for (int d = (int)sh.rank - 1; d >= 0; d--) {
      long long idx = rest % sh.shape[d];
      rest /= sh.shape[d];
      ai += idx * sh.a[d];
      bi += idx * sh.b[d];
    }
    out[i] = a[ai] + b[bi];
  }
}

// The reverse of broadcasting: out[j] = the sum of g over every index that sh.a (out's strides,
// 0 along summed dimensions) maps to j; sh.b holds g's own row-major strides. One thread per
// output, summing in a fixed order, so the result is the same on every run.
extern "C" __global__ void sum_to_broadcast_f32(const float* g, float* out, Broadcast sh,
                                                long long outN, long long summedN) {
  GRID_STRIDE(j, outN) {
    long long rest = j, base = 0;
    for (int d = (int)sh.rank - 1; d >= 0; d--) {
      if (sh.a[d] == 0) continue;
      long long idx = rest % sh.shape[d];
      rest /= sh.shape[d];
      base += idx * sh.b[d];
    }
    double s = 0;
    for (long long r = 0; r < summedN; r++) {
      long long left = r, off = base;
      for (int d = (int)sh.rank - 1; d >= 0; d--) {
        if (sh.a[d] != 0) continue;
        off += (left % sh.shape[d]) * sh.b[d];
        left /= sh.shape[d];
      }
      s += g[off];
    }
    out[j] = (float)s;
  }
}

// dst[i] = src[rows[i]] for rows of `words` 32-bit words (a float row, or an int64 row as two).
extern "C" __global__ void gather_rows_u32(const unsigned int* src, const int* rows,
                                           unsigned int* dst, long long words, long long count) {
  GRID_STRIDE(i, count * words) {
    long long r = i / words;
    dst[i] = src[(long long)rows[r] * words + i % words];
  }
}

extern "C" __global__ void relu_f32(const float* x, float* y, long long n) {
  GRID_STRIDE(i, n) { y[i] = fmaxf(x[i], 0.f); }
}

// dx = dy where y > 0, else 0
extern "C" __global__ void relu_backward_f32(const float* y, const float* dy, float* dx,
                                             long long n) {
  GRID_STRIDE(i, n) { dx[i] = y[i] > 0.f ? dy[i] : 0.f; }
}

// y = act(y + bias[channel] + residual) on [n, c, hw]: a convolution's epilogue where cuDNN's
// fused call does not apply; bias and residual may be null.
extern "C" __global__ void bias_residual_act_f32(float* y, const float* bias,
                                                 const float* residual, int relu, int c, int hw,
                                                 long long n) {
  GRID_STRIDE(i, n) {
    float v = y[i];
    if (bias) v += bias[(i / hw) % c];
    if (residual) v += residual[i];
    y[i] = relu ? fmaxf(v, 0.f) : v;
  }
}

// ---- reductions ----------------------------------------------------------------------------

// A block's sum in double, left in thread 0; blockDim.x a power of two, at most 1024.
__device__ double block_sum(double v) {
  __shared__ double part[1024];
  part[threadIdx.x] = v;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) part[threadIdx.x] += part[threadIdx.x + s];
    __syncthreads();
  }
  double r = part[0];
  __syncthreads();
  return r;
}

__device__ float block_max(float v) {
  __shared__ float part[1024];
  part[threadIdx.x] = v;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) part[threadIdx.x] = fmaxf(part[threadIdx.x], part[threadIdx.x + s]);
    __syncthreads();
  }
  float r = part[0];
  __syncthreads();
  return r;
}

// out[0] = sum of x: one block, so the order (and the result) is the same on every run.
extern "C" __global__ void sum_f32(const float* x, float* out, long long n) {
  double s = 0;
  for (long long i = threadIdx.x; i < n; i += blockDim.x) s += x[i];
  s = block_sum(s);
  if (threadIdx.x == 0) out[0] = (float)s;
}

// ---- batch norm ------------------------------------------------------------------------------

// Backward of evaluation-mode batch norm (cuDNN has none): the statistics are constants, so
// dx = dy·w·invStd, dw[c] = Σ dy·(x − mean)·invStd, db[c] = Σ dy. One block per channel over
// [n, c, hw]; dx, dw and db may each be null.
extern "C" __global__ void batchnorm_backward_inference_f32(const float* x, const float* dy,
                                                            const float* w, const float* mean,
                                                            const float* var, float eps, float* dx,
                                                            float* dw, float* db, int n, int c,
                                                            int hw) {
  int ch = blockIdx.x;
  double invStd = 1.0 / sqrt((double)var[ch] + (double)eps);
  float m = mean[ch];
  double sumDy = 0, sumDyXhat = 0;
  for (long long i = threadIdx.x; i < (long long)n * hw; i += blockDim.x) {
    long long at = ((i / hw) * c + ch) * (long long)hw + i % hw;
    sumDy += dy[at];
    sumDyXhat += (double)dy[at] * (x[at] - m);
  }
  sumDy = block_sum(sumDy);
  sumDyXhat = block_sum(sumDyXhat);
  if (threadIdx.x == 0) {
    if (db) db[ch] = (float)sumDy;
    if (dw) dw[ch] = (float)(sumDyXhat * invStd);
  }
  if (!dx) return;
  float k = (float)(w[ch] * invStd);
  for (long long i = threadIdx.x; i < (long long)n * hw; i += blockDim.x) {
    long long at = ((i / hw) * c + ch) * (long long)hw + i % hw;
    dx[at] = dy[at] * k;
  }
}

// ---- pooling -------------------------------------------------------------------------------

// Output i's window: its (image, channel) plane and the rows and columns it covers, clipped
// to the image (padded taps are never candidates).
struct Window {
  long long plane;
  int y0, y1, x0, x1;
};

// The pooling geometry, by value: kernel, stride and padding per axis.
struct Pool {
  int h, w, oh, ow, kh, kw, sh, sw, ph, pw;
};

__device__ Window pool_window(long long i, Pool g) {
  int oy = (int)(i % ((long long)g.oh * g.ow)) / g.ow, ox = (int)(i % g.ow);
  return {i / ((long long)g.oh * g.ow), max(oy * g.sh - g.ph, 0), min(oy * g.sh - g.ph + g.kh, g.h),
          max(ox * g.sw - g.pw, 0), min(ox * g.sw - g.pw + g.kw, g.w)};
}

// One thread per output; padded taps never win; NaN wins; ties go to the first in row-major order.
extern "C" __global__ void maxpool2d_forward_f32(const float* x, float* y, int nc, Pool g) {
  int h = g.h, w = g.w;
  GRID_STRIDE(i, (long long)nc * g.oh * g.ow) {
    Window win = pool_window(i, g);
    long long plane = win.plane;
    int y0 = win.y0, y1 = win.y1, x0 = win.x0, x1 = win.x1;
    const float* src = x + plane * h * w;
    float m = -INFINITY;
    for (int iy = y0; iy < y1; iy++)
      for (int ix = x0; ix < x1; ix++) {
        float v = src[iy * w + ix];
        if (v > m || isnan(v)) m = v;
        if (isnan(m)) goto done;
      }
  done:
    y[i] = m;
  }
}

// One thread per input: the sum of the gradients of the outputs whose window picks it (the first
// tap holding the window's maximum), added in the outputs' row-major order from 0, as the CPU
// backend adds them. No atomics: overlapping windows (3x3 stride 1) give the same bits every run,
// and the CPU's bits.
extern "C" __global__ void maxpool2d_backward_f32(const float* x, const float* y, const float* dy,
                                                  float* dx, int nc, Pool g) {
  int h = g.h, w = g.w;
  GRID_STRIDE(i, (long long)nc * h * w) {
    long long plane = i / ((long long)h * w);
    int iy = (int)(i % ((long long)h * w)) / w, ix = (int)(i % w);
    // The outputs whose window covers (iy, ix): oy·sh − ph ≤ iy < oy·sh − ph + kh.
    int below = iy + g.ph - g.kh + 1, left = ix + g.pw - g.kw + 1;
    int oy0 = below <= 0 ? 0 : (below + g.sh - 1) / g.sh, oy1 = min((iy + g.ph) / g.sh, g.oh - 1);
    int ox0 = left <= 0 ? 0 : (left + g.sw - 1) / g.sw, ox1 = min((ix + g.pw) / g.sw, g.ow - 1);
    const float* src = x + plane * h * w;
    float s = 0.0f;
    for (int oy = oy0; oy <= oy1; oy++)
      for (int ox = ox0; ox <= ox1; ox++) {
        long long o = (plane * g.oh + oy) * g.ow + ox;
        Window win = pool_window(o, g);
        float m = y[o];
        bool nan = isnan(m);
        int at = win.y0 * w + win.x0;
        for (int ty = win.y0; ty < win.y1; ty++)
          for (int tx = win.x0; tx < win.x1; tx++) {
            float v = src[ty * w + tx];
            if (v == m || (nan && isnan(v))) {
              at = ty * w + tx;
              goto found;
            }
          }
      found:
        if (at == iy * w + ix) s += dy[o];
      }
    dx[i] = s;
  }
}

// One block per (image, channel) plane.
extern "C" __global__ void global_avgpool_forward_f32(const float* x, float* y, int hw) {
  const float* src = x + (long long)blockIdx.x * hw;
  double s = 0;
  for (int j = threadIdx.x; j < hw; j += blockDim.x) s += src[j];
  s = block_sum(s);
  if (threadIdx.x == 0) y[blockIdx.x] = (float)(s / hw);
}

extern "C" __global__ void global_avgpool_backward_f32(const float* dy, float* dx, int nc,
                                                       int hw) {
  GRID_STRIDE(i, (long long)nc * hw) { dx[i] = dy[i / hw] / hw; }
}

// ---- softmax and the loss (rows of a [rows, cols] matrix; one block per row) ---------------

extern "C" __global__ void softmax_rows_f32(const float* x, float* y, int cols, int takeLog) {
  const float* in = x + (long long)blockIdx.x * cols;
  float* out = y + (long long)blockIdx.x * cols;
  float m = -INFINITY;
  for (int j = threadIdx.x; j < cols; j += blockDim.x) m = fmaxf(m, in[j]);
  m = block_max(m);
  double s = 0;
  for (int j = threadIdx.x; j < cols; j += blockDim.x) s += exp((double)(in[j] - m));
  s = block_sum(s);
  double logSum = log(s);
  for (int j = threadIdx.x; j < cols; j += blockDim.x) {
    double shifted = in[j] - m;
    out[j] = (float)(takeLog ? shifted - logSum : exp(shifted) / s);
  }
}

// dx = dy - exp(y) * sum(dy), y being log-softmax.
extern "C" __global__ void log_softmax_backward_f32(const float* y, const float* dy, float* dx,
                                                    int cols) {
  long long base = (long long)blockIdx.x * cols;
  double s = 0;
  for (int j = threadIdx.x; j < cols; j += blockDim.x) s += dy[base + j];
  s = block_sum(s);
  for (int j = threadIdx.x; j < cols; j += blockDim.x)
    dx[base + j] = (float)(dy[base + j] - exp((double)y[base + j]) * s);
}

// dx = y * (dy - sum(dy * y)), y being softmax.
extern "C" __global__ void softmax_backward_f32(const float* y, const float* dy, float* dx,
                                                int cols) {
  long long base = (long long)blockIdx.x * cols;
  double dot = 0;
  for (int j = threadIdx.x; j < cols; j += blockDim.x) dot += (double)dy[base + j] * y[base + j];
  dot = block_sum(dot);
  for (int j = threadIdx.x; j < cols; j += blockDim.x)
    dx[base + j] = (float)(y[base + j] * (dy[base + j] - dot));
}

// The mean over rows of -(1-ε)·logp[label] - ε/cols·Σ logp: one block, rows in a fixed order.
// Labels must be in [0, cols): the backend checks them on the host before the launch.
extern "C" __global__ void nll_loss_f32(const float* logp, const long long* labels,
                                        float smoothing, float* out, int rows, int cols) {
  double total = 0;
  for (int r = threadIdx.x; r < rows; r += blockDim.x) {
    const float* row = logp + (long long)r * cols;
    double rowSum = 0;
    for (int j = 0; j < cols; j++) rowSum += row[j];
    total += -(1.0 - smoothing) * row[labels[r]] - smoothing / cols * rowSum;
  }
  total = block_sum(total);
  if (threadIdx.x == 0) out[0] = (float)(total / rows);
}

extern "C" __global__ void nll_loss_backward_f32(const long long* labels, float smoothing,
                                                 const float* gradOut, float* dlogp, int rows,
                                                 int cols) {
  double g = gradOut[0] / (double)rows;
  float spread = (float)(-g * smoothing / cols);
  float hit = (float)(-g * (1.0 - smoothing) - g * smoothing / cols);
  GRID_STRIDE(i, (long long)rows * cols) {
    long long r = i / cols;
    dlogp[i] = (i % cols) == labels[r] ? hit : spread;
  }
}

// ---- optimizer updates (in place) ----------------------------------------------------------

extern "C" __global__ void sgd_step_f32(float* p, const float* g, float* buf, float lr,
                                        float momentum, float dampening, float weightDecay,
                                        int nesterov, int firstStep, long long n) {
  GRID_STRIDE(i, n) {
    float d = g[i];
    if (weightDecay != 0.f) d += weightDecay * p[i];
    if (momentum != 0.f) {
      float b = firstStep ? d : momentum * buf[i] + (1.f - dampening) * d;
      buf[i] = b;
      d = nesterov ? d + momentum * b : b;
    }
    p[i] -= lr * d;
  }
}

// stepSize = lr / (1 - β1^t), bc2Sqrt = sqrt(1 - β2^t), decay = 1 - lr·weightDecay (host-side).
extern "C" __global__ void adamw_step_f32(float* p, const float* g, float* m, float* v,
                                          float beta1, float beta2, float eps, float stepSize,
                                          float bc2Sqrt, float decay, long long n) {
  GRID_STRIDE(i, n) {
    float gi = g[i];
    float pi = p[i] * decay;
    float mi = beta1 * m[i] + (1.f - beta1) * gi;
    float vi = beta2 * v[i] + (1.f - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - stepSize * (mi / (sqrtf(vi) / bc2Sqrt + eps));
  }
}

// ---- input ---------------------------------------------------------------------------------

// A batch crosses the bus as bytes: x = (u8 / 255 - mean[c]) / std[c] for [n, c, hw] images,
// meanStd holding the c means then the c deviations. The same float operations as the CPU's.
extern "C" __global__ void normalize_u8_f32(const unsigned char* src, float* dst,
                                            const float* meanStd, int c, int hw,
                                            long long total) {
  GRID_STRIDE(i, total) {
    int ch = (int)((i / hw) % c);
    dst[i] = (src[i] / 255.f - meanStd[ch]) / meanStd[c + ch];
  }
}

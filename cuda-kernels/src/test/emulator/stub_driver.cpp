// A stand-in for the NVIDIA driver (libcuda.so.1) with one pretend GPU whose memory is host memory
// and whose kernels are fingerspell.cu compiled for the host (cuda_host.h). JCuda's native library
// links against libcuda.so.1 and binds each function when first called, so this library needs only
// the calls the CUDA backend makes. With it, CudaDriver itself (JCuda's argument passing, pointer
// offsets, kernel parameters, the stream, events and pinned copies) runs on a machine without a
// GPU: StubDriverTest. Everything runs at once, in order; the stub also counts what a real driver
// would reject or slow down (work not on the stream it created, async copies from unpinned memory)
// so the test can check that none happened.
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <chrono>
#include <barrier>
#include <latch>
#include <memory>
#include <semaphore>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "../../main/cuda/fingerspell.cu"

namespace {
using CUresult = int;
using CUdeviceptr = unsigned long long;
constexpr CUresult SUCCESS = 0, INVALID_VALUE = 1, OUT_OF_MEMORY = 2, NOT_INITIALIZED = 3,
                   INVALID_HANDLE = 400, NOT_FOUND = 500, NOT_SUPPORTED = 801;

// A kernel called with its parameters as cuLaunchKernel gets them: an array of pointers to values.
template <typename... A, std::size_t... I>
void call(void (*kernel)(A...), void** params, std::index_sequence<I...>) {
  kernel(*static_cast<std::remove_reference_t<A>*>(params[I])...);
}
template <typename... A>
void call(void (*kernel)(A...), void** params) {
  call(kernel, params, std::index_sequence_for<A...>{});
}
using Launcher = void (*)(void**);

const std::map<std::string, Launcher>& kernels() {
  static const std::map<std::string, Launcher> table = {
#define KERNEL(name) {#name, [](void** p) { call(name, p); }},
#include "kernels.inc"
#undef KERNEL
  };
  return table;
}

thread_local std::barrier<>* blockBarrier = nullptr;  // the block this thread runs in
void syncBlock() {
  if (blockBarrier) blockBarrier->arrive_and_wait();
}

// Runs one block with all its threads at once, as a GPU does: workers kept between blocks (one
// per thread index, up to the largest block seen), each with its own threadIdx, woken only for the
// blocks that have its index; __syncthreads is a barrier among the block's threads.
class BlockThreads {
 public:
  void run(Launcher kernel, void** params, unsigned threads) {
    std::barrier<> barrier(threads);
    std::latch done(threads);
    while (workers_.size() < threads) {
      workers_.push_back(std::make_unique<Worker>(unsigned(workers_.size())));
    }
    for (unsigned t = 0; t < threads; t++) workers_[t]->start(kernel, params, &barrier, &done);
    done.wait();
  }

 private:
  struct Worker {
    std::binary_semaphore go{0};
    Launcher kernel = nullptr;
    void** params = nullptr;
    std::barrier<>* barrier = nullptr;
    std::latch* done = nullptr;
    std::thread thread;  // last: starts once the rest is set; never joined (see BlockThreads)

    explicit Worker(unsigned t) : thread([this, t] { loop(t); }) {}

    void start(Launcher k, void** p, std::barrier<>* b, std::latch* d) {
      kernel = k, params = p, barrier = b, done = d;
      go.release();
    }

    void loop(unsigned t) {
      emu_syncthreads_hook = syncBlock;
      threadIdx.x = t;
      for (;;) {
        go.acquire();
        blockBarrier = barrier;
        kernel(params);
        done->count_down();
      }
    }
  };
  std::vector<std::unique_ptr<Worker>> workers_;
};

// The first launches of each kernel, when of at most this many threads in all, run their blocks'
// threads for real (the op checks' reductions); later and larger ones one thread per block, fast
// enough for whole networks and for the allocator tests' thousands of passes.
constexpr unsigned long long THREADED_LAUNCH = 1 << 15;
constexpr int THREADED_PER_KERNEL = 8;
std::map<Launcher, int> threadedSoFar;

struct Stream {};
struct Event {
  bool recorded = false;
  std::chrono::steady_clock::time_point at;
};

std::mutex lock;
bool initialised = false;
Stream* created = nullptr;  // the one stream the backend made; work elsewhere is counted
std::map<CUdeviceptr, size_t> blocks;
std::map<const char*, size_t, std::less<>> pinned;  // registered host ranges
size_t used = 0;
constexpr size_t CAPACITY = size_t(1) << 30;

// Counters StubDriverTest reads: see stub_counters.
long long launches = 0, copies = 0, offStream = 0, unpinnedCopies = 0, outOfBounds = 0,
          libraryCalls = 0, threadedLaunches = 0;
// Which ways of page-locking host memory the stub refuses (stub_refuse_pinning), as a sandbox
// may: 1 cuMemAllocHost, 2 cuMemHostRegister, 3 both.
int refusePinning = 0;

bool isPinned(const void* p, size_t bytes) {
  auto c = static_cast<const char*>(p);
  auto it = pinned.upper_bound(c);
  if (it == pinned.begin()) return false;
  --it;
  return c >= it->first && c + bytes <= it->first + it->second;
}

bool inDevice(CUdeviceptr p, size_t bytes) {
  auto it = blocks.upper_bound(p);
  if (it == blocks.begin()) return false;
  --it;
  return p >= it->first && p + bytes <= it->first + it->second;
}

void onStream(void* stream) {
  if (created == nullptr || stream != created) offStream++;
}
}  // namespace

extern "C" {
CUresult cuInit(unsigned) {
  initialised = true;
  return SUCCESS;
}
CUresult cuDriverGetVersion(int* v) {
  *v = 12060;
  return SUCCESS;
}
CUresult cuDeviceGetCount(int* n) {
  if (!initialised) return NOT_INITIALIZED;
  *n = 1;
  return SUCCESS;
}
CUresult cuDeviceGet(int* dev, int ordinal) {
  if (ordinal != 0) return INVALID_VALUE;
  *dev = 0;
  return SUCCESS;
}
CUresult cuDeviceGetName(char* name, int len, int) {
  std::snprintf(name, len, "stub GPU (host memory)");
  return SUCCESS;
}
CUresult cuDevicePrimaryCtxRetain(void** ctx, int) {
  static int context;
  *ctx = &context;
  return SUCCESS;
}
CUresult cuCtxSetCurrent(void*) { return SUCCESS; }
CUresult cuStreamCreate(void** stream, unsigned) {
  std::lock_guard<std::mutex> g(lock);
  created = new Stream();
  *stream = created;
  return SUCCESS;
}
CUresult cuStreamSynchronize(void* stream) {
  std::lock_guard<std::mutex> g(lock);
  onStream(stream);
  return SUCCESS;
}
CUresult cuModuleLoadData(void** module, const void* image) {
  static int mod;
  if (image == nullptr) return INVALID_VALUE;
  *module = &mod;
  return SUCCESS;
}
CUresult cuModuleGetFunction(void** fn, void*, const char* name) {
  auto it = kernels().find(name);
  if (it == kernels().end()) return NOT_FOUND;
  *fn = reinterpret_cast<void*>(it->second);
  return SUCCESS;
}
CUresult cuMemAlloc_v2(CUdeviceptr* p, size_t bytes) {
  std::lock_guard<std::mutex> g(lock);
  if (used + bytes > CAPACITY) return OUT_OF_MEMORY;
  void* m = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
  *p = reinterpret_cast<CUdeviceptr>(m);
  blocks[*p] = bytes;
  used += bytes;
  return SUCCESS;
}
CUresult cuMemFree_v2(CUdeviceptr p) {
  std::lock_guard<std::mutex> g(lock);
  auto it = blocks.find(p);
  if (it == blocks.end()) return INVALID_VALUE;
  used -= it->second;
  blocks.erase(it);
  std::free(reinterpret_cast<void*>(p));
  return SUCCESS;
}
CUresult cuMemGetInfo_v2(size_t* free, size_t* total) {
  std::lock_guard<std::mutex> g(lock);
  *free = CAPACITY - used;
  *total = CAPACITY;
  return SUCCESS;
}
CUresult cuMemAllocHost_v2(void** p, size_t bytes) {
  std::lock_guard<std::mutex> g(lock);
  if (refusePinning & 1) return NOT_SUPPORTED;
  *p = std::aligned_alloc(4096, (bytes + 4095) / 4096 * 4096);
  pinned[static_cast<const char*>(*p)] = bytes;
  return SUCCESS;
}
CUresult cuMemHostRegister_v2(void* p, size_t bytes, unsigned) {
  std::lock_guard<std::mutex> g(lock);
  if (refusePinning & 2) return NOT_SUPPORTED;
  pinned[static_cast<const char*>(p)] = bytes;
  return SUCCESS;
}
CUresult cuMemsetD8Async(CUdeviceptr p, unsigned char value, size_t bytes, void* stream) {
  std::lock_guard<std::mutex> g(lock);
  onStream(stream);
  if (!inDevice(p, bytes)) return outOfBounds++, INVALID_VALUE;
  std::memset(reinterpret_cast<void*>(p), value, bytes);
  return SUCCESS;
}
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, size_t bytes, void* stream) {
  std::lock_guard<std::mutex> g(lock);
  onStream(stream);
  copies++;
  if (!isPinned(src, bytes)) unpinnedCopies++;
  if (!inDevice(dst, bytes)) return outOfBounds++, INVALID_VALUE;
  std::memcpy(reinterpret_cast<void*>(dst), src, bytes);
  return SUCCESS;
}
CUresult cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, size_t bytes, void* stream) {
  std::lock_guard<std::mutex> g(lock);
  onStream(stream);
  copies++;
  if (!isPinned(dst, bytes)) unpinnedCopies++;
  if (!inDevice(src, bytes)) return outOfBounds++, INVALID_VALUE;
  std::memcpy(dst, reinterpret_cast<void*>(src), bytes);
  return SUCCESS;
}
CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t bytes, void* stream) {
  std::lock_guard<std::mutex> g(lock);
  onStream(stream);
  if (!inDevice(dst, bytes) || !inDevice(src, bytes)) return outOfBounds++, INVALID_VALUE;
  std::memmove(reinterpret_cast<void*>(dst), reinterpret_cast<void*>(src), bytes);
  return SUCCESS;
}
CUresult cuEventCreate(void** event, unsigned) {
  *event = new Event();
  return SUCCESS;
}
CUresult cuEventRecord(void* event, void* stream) {
  std::lock_guard<std::mutex> g(lock);
  onStream(stream);
  auto e = static_cast<Event*>(event);
  e->recorded = true;
  e->at = std::chrono::steady_clock::now();
  return SUCCESS;
}
CUresult cuEventSynchronize(void* event) { return event == nullptr ? INVALID_HANDLE : SUCCESS; }
CUresult cuEventElapsedTime(float* ms, void* start, void* end) {
  auto s = static_cast<Event*>(start), e = static_cast<Event*>(end);
  if (!s->recorded || !e->recorded) return INVALID_HANDLE;
  *ms = std::chrono::duration<float, std::milli>(e->at - s->at).count();
  return SUCCESS;
}
CUresult cuLaunchKernel(void* fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                        unsigned bz, unsigned shared, void* stream, void** params, void** extra) {
  std::lock_guard<std::mutex> g(lock);
  onStream(stream);
  launches++;
  // a grid of no blocks is refused, as the driver does (CUDA_ERROR_INVALID_VALUE on an H200)
  if (gx == 0 || gy != 1 || gz != 1 || by != 1 || bz != 1 || bx == 0 || bx > 1024 ||
      shared != 0 || extra != nullptr || params == nullptr)
    return INVALID_VALUE;
  auto kernel = reinterpret_cast<Launcher>(fn);
  if (bx > 1 && (unsigned long long)gx * bx <= THREADED_LAUNCH &&
      threadedSoFar[kernel]++ < THREADED_PER_KERNEL) {
    // never destroyed: its workers run until the process ends, never joined
    static BlockThreads* threads = new BlockThreads();
    gridDim.x = gx;
    blockDim.x = bx;
    for (unsigned b = 0; b < gx; b++) {
      blockIdx.x = b;
      threads->run(kernel, params, bx);
    }
    threadedLaunches++;
    return SUCCESS;
  }
  for (unsigned b = 0; b < gx; b++) {
    emu_launch_block(b, gx);
    kernel(params);
  }
  return SUCCESS;
}

// For tests: refuse cuMemAllocHost (1), cuMemHostRegister (2) or both (3) from now on.
void stub_refuse_pinning(int which) {
  std::lock_guard<std::mutex> g(lock);
  refusePinning = which;
}

// For tests: each kernel's next launches run their blocks' threads for real again.
void stub_thread_blocks_again() {
  std::lock_guard<std::mutex> g(lock);
  threadedSoFar.clear();
}

// The stream the backend created, to check the address it hands cuDNN and cuBLAS.
void* stub_stream() { return created; }

// For the stub cuDNN and cuBLAS (stub_cudnn.cpp, stub_cublas.cpp): a compute call queued on
// stream, counted, and a device range it reads or writes, which must lie in an allocation.
void stub_library_call(void* stream) {
  std::lock_guard<std::mutex> g(lock);
  onStream(stream);
  libraryCalls++;
}
int stub_device_range(CUdeviceptr p, size_t bytes) {
  std::lock_guard<std::mutex> g(lock);
  if (inDevice(p, bytes)) return 1;
  outOfBounds++;
  return 0;
}

// {launches, async host copies, calls not on the created stream, async copies from or to
// unpinned host memory, device ranges outside any allocation, cuDNN and cuBLAS compute calls,
// launches whose blocks ran with all their threads}
void stub_counters(long long* out) {
  std::lock_guard<std::mutex> g(lock);
  out[0] = launches;
  out[1] = copies;
  out[2] = offStream;
  out[3] = unpinnedCopies;
  out[4] = outOfBounds;
  out[5] = libraryCalls;
  out[6] = threadedLaunches;
}
}

// Compiles fingerspell.cu for the host, so that the kernels' own logic can be tested on a machine
// without a GPU (EmulatedKernelsTest):
//   g++ -std=c++17 -O1 -shared -fPIC -include cuda_host.h -x c++ fingerspell.cu -o libfs_host.so
// A launch runs its blocks one after another. By default each block is a single thread
// (blockDim.x = 1, set by emu_launch_block before each call): grid-stride loops then cover every
// element, and a block's reductions reduce one partial sum, so __syncthreads has nothing to wait
// for. The stub driver (stub_driver.cpp) runs small launches' blocks with all their threads, for
// real and at once, __syncthreads a barrier among them (emu_syncthreads_hook), so that races
// between a block's threads and a reduction's need for a power-of-two block show there too.
#pragma once
#include <cmath>
#include <cstdint>
#include <algorithm>

struct EmuDim {
  unsigned int x, y, z;
};
inline EmuDim blockIdx{0, 0, 0}, blockDim{1, 1, 1}, gridDim{1, 1, 1};
inline thread_local EmuDim threadIdx{0, 0, 0};
// Waits for the block's other threads, where a launcher runs them for real; else nothing to do.
inline void (*emu_syncthreads_hook)() = nullptr;

#define __global__
#define __device__
#define __shared__ static
#define __syncthreads() (emu_syncthreads_hook ? emu_syncthreads_hook() : (void)0)

using std::isnan;
using std::max;
using std::min;

inline float atomicAdd(float* address, float value) {
  float old, next;
  __atomic_load(address, &old, __ATOMIC_RELAXED);
  do {
    next = old + value;
  } while (!__atomic_compare_exchange(address, &old, &next, false, __ATOMIC_SEQ_CST,
                                      __ATOMIC_RELAXED));
  return old;
}

extern "C" void emu_launch_block(unsigned int block, unsigned int blocks) {
  blockIdx.x = block;
  gridDim.x = blocks;
  blockDim.x = 1;
  threadIdx.x = 0;
}

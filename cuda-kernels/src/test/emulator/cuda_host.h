// Compiles fingerspell.cu for the host, so that the kernels' own logic can be tested on a machine
// without a GPU (EmulatedKernelsTest):
//   g++ -std=c++17 -O1 -shared -fPIC -include cuda_host.h -x c++ fingerspell.cu -o libfs_host.so
// A launch runs its blocks one after another, each as a single thread (blockDim.x = 1), set by
// emu_launch_block before each call. Grid-stride loops then cover every element, and a block's
// reductions reduce one partial sum, so __syncthreads has nothing to wait for. What this cannot
// show: races between threads of a block, and launch sizes (threads per block) being right.
#pragma once
#include <cmath>
#include <cstdint>
#include <algorithm>

struct EmuDim {
  unsigned int x, y, z;
};
inline EmuDim blockIdx{0, 0, 0}, threadIdx{0, 0, 0}, blockDim{1, 1, 1}, gridDim{1, 1, 1};

#define __global__
#define __device__
#define __shared__ static
#define __syncthreads() ((void)0)

using std::isnan;
using std::max;
using std::min;

inline float atomicAdd(float* address, float value) {
  float old = *address;
  *address = old + value;
  return old;
}

extern "C" void emu_launch_block(unsigned int block, unsigned int blocks) {
  blockIdx.x = block;
  gridDim.x = blocks;
  blockDim.x = 1;
  threadIdx.x = 0;
}

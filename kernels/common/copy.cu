// Calibration copy: a grid-stride loop of 16-byte loads and stores, several loads in flight per
// thread, sized to fill every SM. It is the "speed of light" for one read plus one write.
#include "kernels/common/copy.h"

#include <cstdint>

namespace fabench {

namespace {
constexpr int kThreads = 512;
constexpr int kUnroll = 4;

__global__ void __launch_bounds__(kThreads) copy_kernel(const int4* __restrict__ src, int4* __restrict__ dst,
                                                        std::size_t n) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  for (; i + (kUnroll - 1) * stride < n; i += kUnroll * stride) {
    int4 v[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) v[u] = src[i + u * stride];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) dst[i + u * stride] = v[u];
  }
  for (; i < n; i += stride) dst[i] = src[i];
}
}  // namespace

void copy_kernel_launch(const void* src, void* dst, std::size_t bytes, int sm_count, cudaStream_t stream) {
  const std::size_t n = bytes / 16;
  const int blocks = sm_count * 4;  // 4 x 512 threads = 2048 per SM, full occupancy on Hopper
  copy_kernel<<<blocks, kThreads, 0, stream>>>(static_cast<const int4*>(src), static_cast<int4*>(dst), n);
}

}  // namespace fabench

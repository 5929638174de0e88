// Streaming read: a loop of 16-byte loads, several independent loads in flight per thread, as
// many blocks as are resident on every SM, either striding over the whole grid or each block over
// its own contiguous part. Like the calibration copy (copy.cu) but with no stores, so it measures
// what a read-mostly kernel (decode) can reach, and it reads each line into the L2 the ordinary
// way, which the cold L2 flush relies on.
#include "kernels/common/stream_read.h"

#include <cstdint>

#include "kernels/common/reduce.cuh"

namespace fabench {

namespace {

__device__ __forceinline__ unsigned long long word_sum(const uint4& v) {
  return static_cast<unsigned long long>(v.x) + v.y + v.z + v.w;
}

// __launch_bounds__'s second argument (at least one block an SM) lets ptxas spend registers on
// the loads: without it CUDA 13.0 held every shape at 32 registers, full occupancy, and issued
// only 4-5 loads before the first add whatever kLoads said (16 loads: 80 registers with it).
template <int kLoads, int kThreads, bool kBlocked>
__global__ void __launch_bounds__(kThreads, 1)
    stream_read_kernel(const uint4* __restrict__ data, std::size_t n, unsigned long long* checksum, ChecksumGate gate) {
  // Grid-stride: the grid's threads side by side over the whole buffer. Blocked: the block's
  // threads side by side over its own part, whole steps of kLoads x kThreads vectors but the last.
  std::size_t stride, i, end = n;
  if constexpr (kBlocked) {
    constexpr std::size_t kStep = static_cast<std::size_t>(kLoads) * kThreads;
    const std::size_t part = ((n + gridDim.x - 1) / gridDim.x + kStep - 1) / kStep * kStep;
    stride = kThreads;
    i = static_cast<std::size_t>(blockIdx.x) * part + threadIdx.x;
    end = min(n, static_cast<std::size_t>(blockIdx.x + 1) * part);
  } else {
    stride = static_cast<std::size_t>(gridDim.x) * kThreads;
    i = static_cast<std::size_t>(blockIdx.x) * kThreads + threadIdx.x;
  }
  unsigned long long sum = 0;
  // Plain loads, no cache hints: an evict-first or no-allocate hint would let the L2 keep the
  // lines it already holds (the dirty ones the flush must push out) and drop these instead.
  // kLoads loads a stride apart: each is coalesced across the warp, and all are issued before
  // the first is used, so a thread has kLoads requests in flight.
  for (; i + (kLoads - 1) * stride < end; i += kLoads * stride) {
    uint4 v[kLoads];
#pragma unroll
    for (int u = 0; u < kLoads; ++u) v[u] = data[i + u * stride];
#pragma unroll
    for (int u = 0; u < kLoads; ++u) sum += word_sum(v[u]);
  }
  for (; i < end; i += stride) sum += word_sum(data[i]);

  __shared__ unsigned long long warp_parts[kThreads / 32];
  sum = warp_sum(sum);
  if (threadIdx.x % 32 == 0) warp_parts[threadIdx.x / 32] = sum;
  __syncthreads();
  if (threadIdx.x == 0) {
    unsigned long long part = 0;
#pragma unroll
    for (int w = 0; w < kThreads / 32; ++w) part += warp_parts[w];
    if ((part & gate.mask) == gate.key) atomicAdd(checksum, part);
  }
}

template <int kLoads, int kThreads, bool kBlocked = false>
cudaError_t launch(const uint4* data, std::size_t n, unsigned long long* checksum, ChecksumGate gate, int sm_count,
                   cudaStream_t stream) {
  auto kernel = stream_read_kernel<kLoads, kThreads, kBlocked>;
  int per_sm = 0;
  if (cudaError_t e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, 0); e != cudaSuccess)
    return e;
  kernel<<<sm_count * (per_sm > 0 ? per_sm : 1), kThreads, 0, stream>>>(data, n, checksum, gate);
  return cudaPeekAtLastError();
}

}  // namespace

// The shapes trade loads a thread against threads an SM: 4 loads at 2048 threads (32 registers)
// to 16 loads at 768 (80 registers). Each keeps 100-200 KB in flight an SM, several times the
// memory's latency-bandwidth product (about 3 MB on an H200, 22 KB an SM), so they should tie;
// which wins is the memory system's business (request order, DRAM pages), so calibrate times
// them all and keeps the fastest rather than this file guessing. The blocked shapes read as a
// decode split does, each block a contiguous range: the grid-stride ones, whose requests at any
// moment are spread over the whole grid's stride, measured 4547 GB/s on an H200 (4 GiB, at
// 164eec7) while decode v3 read 4679 (results/h200/decode_targets_cfff15da4515), above its ceiling.
const std::vector<StreamReadShape>& stream_read_shapes() {
  static const std::vector<StreamReadShape> shapes = {{4, 256},       {4, 512},       {8, 256},
                                                      {8, 512},       {16, 256},      {4, 512, true},
                                                      {8, 256, true}, {8, 512, true}, {16, 256, true}};
  return shapes;
}

cudaError_t stream_read_launch(const void* data, std::size_t bytes, unsigned long long* checksum, ChecksumGate gate,
                               StreamReadShape shape, int sm_count, cudaStream_t stream) {
  if (bytes % 16 != 0 || reinterpret_cast<std::uintptr_t>(data) % 16 != 0) return cudaErrorInvalidValue;
  const auto* vectors = static_cast<const uint4*>(data);
  const std::size_t n = bytes / 16;
  const int k = shape.loads_in_flight, t = shape.threads;
  if (shape.blocked) {
    if (k == 4 && t == 512) return launch<4, 512, true>(vectors, n, checksum, gate, sm_count, stream);
    if (k == 8 && t == 256) return launch<8, 256, true>(vectors, n, checksum, gate, sm_count, stream);
    if (k == 8 && t == 512) return launch<8, 512, true>(vectors, n, checksum, gate, sm_count, stream);
    if (k == 16 && t == 256) return launch<16, 256, true>(vectors, n, checksum, gate, sm_count, stream);
    return cudaErrorInvalidConfiguration;
  }
  if (k == 4 && t == 256) return launch<4, 256>(vectors, n, checksum, gate, sm_count, stream);
  if (k == 4 && t == 512) return launch<4, 512>(vectors, n, checksum, gate, sm_count, stream);
  if (k == 8 && t == 256) return launch<8, 256>(vectors, n, checksum, gate, sm_count, stream);
  if (k == 8 && t == 512) return launch<8, 512>(vectors, n, checksum, gate, sm_count, stream);
  if (k == 16 && t == 256) return launch<16, 256>(vectors, n, checksum, gate, sm_count, stream);
  return cudaErrorInvalidConfiguration;  // not a compiled shape
}

}  // namespace fabench

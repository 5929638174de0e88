#pragma once
// The backward's first pass, shared by its versions: D = rowsum(dO * O), one fp32 a query row,
// by a warp per row (the row read once, coalesced).
#include <cstdint>

#include "kernels/attention_bwd/attention_bwd.h"
#include "kernels/common/element.cuh"
#include "kernels/common/reduce.cuh"

namespace fabench {

template <class T>
__global__ void attention_bwd_delta_kernel(const T* o, const T* d_o, float* delta, std::int64_t rows, std::int64_t d) {
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  float sum = 0.0f;
  for (std::int64_t c = lane; c < d; c += 32) sum += to_float(d_o[row * d + c]) * to_float(o[row * d + c]);
  sum = warp_sum(sum);
  if (lane == 0) delta[row] = sum;
}

template <class T>
void launch_attention_bwd_delta(const AttentionBwdArgs& a, float* delta, cudaStream_t stream) {
  const std::int64_t rows = a.batch * a.heads * a.seq_q;
  constexpr int kWarps = 8;
  attention_bwd_delta_kernel<T><<<static_cast<unsigned>((rows + kWarps - 1) / kWarps), 32 * kWarps, 0, stream>>>(
      static_cast<const T*>(a.o), static_cast<const T*>(a.d_o), delta, rows, a.head_dim);
}

}  // namespace fabench

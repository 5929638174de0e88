#pragma once
// The backward's first pass, shared by its versions: D = rowsum(dO * O), one fp32 a query row, by a
// warp per row (the row read once, coalesced); and, for the versions that add dQ into an fp32
// accumulator, the accumulator's row zeroed in the same pass (instead of a memset launch of its own:
// at FlashAttention's 16k-token convention that pass and the memset are a fixed 0.1 ms, a twentieth
// of the backward at seq 2k).
#include <cstdint>
#include <type_traits>

#include "kernels/attention_bwd/attention_bwd.h"
#include "kernels/common/element.cuh"
#include "kernels/common/reduce.cuh"

namespace fabench {

// Four elements from 4-aligned `p` as floats: one 8-byte load for 16-bit types, one 16-byte for fp32.
template <class T>
__device__ __forceinline__ float4 load4(const T* p) {
  if constexpr (std::is_same_v<T, float>) {
    return *reinterpret_cast<const float4*>(p);
  } else {
    const uint2 v = *reinterpret_cast<const uint2*>(p);
    const T* e = reinterpret_cast<const T*>(&v);
    return make_float4(to_float(e[0]), to_float(e[1]), to_float(e[2]), to_float(e[3]));
  }
}

// dq_acc: null, or the fp32 accumulator ([rows][d]) to zero. d a multiple of 4 takes vector loads.
template <class T>
__global__ void attention_bwd_delta_kernel(const T* o, const T* d_o, float* delta, float* dq_acc, std::int64_t rows,
                                           std::int64_t d) {
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  float sum = 0.0f;
  if (d % 4 == 0) {
    for (std::int64_t c = 4 * lane; c < d; c += 128) {
      const float4 x = load4(d_o + row * d + c), y = load4(o + row * d + c);
      sum += x.x * y.x + x.y * y.y + x.z * y.z + x.w * y.w;
      if (dq_acc != nullptr) *reinterpret_cast<float4*>(dq_acc + row * d + c) = make_float4(0, 0, 0, 0);
    }
  } else {
    for (std::int64_t c = lane; c < d; c += 32) {
      sum += to_float(d_o[row * d + c]) * to_float(o[row * d + c]);
      if (dq_acc != nullptr) dq_acc[row * d + c] = 0.0f;
    }
  }
  sum = warp_sum(sum);
  if (lane == 0) delta[row] = sum;
}

template <class T>
void launch_attention_bwd_delta(const AttentionBwdArgs& a, float* delta, cudaStream_t stream, float* dq_acc = nullptr) {
  const std::int64_t rows = a.batch * a.heads * a.seq_q;
  constexpr int kWarps = 8;
  attention_bwd_delta_kernel<T><<<static_cast<unsigned>((rows + kWarps - 1) / kWarps), 32 * kWarps, 0, stream>>>(
      static_cast<const T*>(a.o), static_cast<const T*>(a.d_o), delta, dq_acc, rows, a.head_dim);
}

}  // namespace fabench

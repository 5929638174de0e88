#pragma once
// dQ by atomics, shared by the tensor-core backward versions (bwd.fa2_mma, bwd.wgmma): their
// workspace (D, one fp32 a query row, then the fp32 dQ accumulator 16-byte aligned), the vector
// atomic that adds two adjacent dQ sums, and the last pass that scales the accumulator into dQ.
#include <algorithm>
#include <cstdint>

#include "kernels/attention_bwd/attention_bwd.h"
#include "kernels/common/element.cuh"

namespace fabench {

constexpr float kBwdLog2e = 1.4426950408889634f;

inline std::int64_t bwd_query_rows(const AttentionBwdArgs& a) { return a.batch * a.heads * a.seq_q; }
// D first, then the dQ accumulator 16-byte aligned.
inline std::int64_t bwd_delta_floats(const AttentionBwdArgs& a) { return (bwd_query_rows(a) + 3) / 4 * 4; }
inline std::size_t bwd_dq_workspace_bytes(const AttentionBwdArgs& a, bool with_accumulator) {
  return static_cast<std::size_t>(bwd_delta_floats(a) + (with_accumulator ? bwd_query_rows(a) * a.head_dim : 0)) *
         sizeof(float);
}

// Two adjacent fp32 sums into device memory (8-byte aligned): one vector reduction on sm_90.
__device__ __forceinline__ void atomic_add_float2(float* p, float x, float y) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  atomicAdd(reinterpret_cast<float2*>(p), make_float2(x, y));
#else
  atomicAdd(p, x);
  atomicAdd(p + 1, y);
#endif
}

// dQ = scale * the fp32 accumulator, in the output type: four elements a thread an iteration (one
// 16-byte load, one 8-byte store for 16-bit outputs) where n is a multiple of 4, else one.
template <class T>
__global__ void attention_bwd_dq_convert_kernel(const float* dq_acc, T* dq, std::int64_t n, float scale) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  const std::int64_t first = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (n % 4 == 0) {
    for (std::int64_t i = first; i < n / 4; i += stride) {
      const float4 x = reinterpret_cast<const float4*>(dq_acc)[i];
      if constexpr (sizeof(T) == 2) {
        uint2 packed;
        T* e = reinterpret_cast<T*>(&packed);
        e[0] = from_float<T>(scale * x.x), e[1] = from_float<T>(scale * x.y), e[2] = from_float<T>(scale * x.z);
        e[3] = from_float<T>(scale * x.w);
        reinterpret_cast<uint2*>(dq)[i] = packed;
      } else {
        dq[4 * i] = from_float<T>(scale * x.x), dq[4 * i + 1] = from_float<T>(scale * x.y);
        dq[4 * i + 2] = from_float<T>(scale * x.z), dq[4 * i + 3] = from_float<T>(scale * x.w);
      }
    }
  } else {
    for (std::int64_t i = first; i < n; i += stride) dq[i] = from_float<T>(scale * dq_acc[i]);
  }
}

template <class T>
void launch_attention_bwd_dq_convert(const AttentionBwdArgs& a, const float* dq_acc, cudaStream_t stream) {
  const std::int64_t count = bwd_query_rows(a) * a.head_dim;
  // A grid-stride loop over vectors of four: enough blocks to fill any GPU, at least one, at most 4096.
  const int blocks = static_cast<int>(std::clamp<std::int64_t>((count / 4 + 255) / 256, 1, 4096));
  attention_bwd_dq_convert_kernel<T><<<blocks, 256, 0, stream>>>(dq_acc, static_cast<T*>(a.dq), count, a.scale);
}

}  // namespace fabench

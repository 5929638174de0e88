#pragma once
// Warp and block reductions shared by kernel families.
#include <cmath>

namespace fabench {

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Running (max, sum of exp(x - max)) of an online softmax; merging two is exact. With kBase2 the
// sums are of exp2(x - max), for kernels that fold log2(e) into their scale.
struct MaxSum {
  float max = -INFINITY;
  float sum = 0.0f;
};

template <bool kBase2 = false>
__device__ __forceinline__ MaxSum merge(MaxSum a, MaxSum b) {
  const float m = fmaxf(a.max, b.max);
  if (m == -INFINITY) return a;  // both empty
  if constexpr (kBase2) return {m, a.sum * exp2f(a.max - m) + b.sum * exp2f(b.max - m)};
  return {m, a.sum * __expf(a.max - m) + b.sum * __expf(b.max - m)};
}

template <bool kBase2 = false>
__device__ __forceinline__ MaxSum warp_merge(MaxSum v) {
#pragma unroll
  for (int o = 16; o > 0; o /= 2) {
    MaxSum other{__shfl_xor_sync(0xffffffffu, v.max, o), __shfl_xor_sync(0xffffffffu, v.sum, o)};
    v = merge<kBase2>(v, other);
  }
  return v;
}

// Reduces across the `THREADS` threads of a block (THREADS a multiple of 32, at most 1024) with
// warp shuffles and one shared-memory exchange; every thread gets the result.
template <int THREADS, class T, class Op>
__device__ __forceinline__ T block_allreduce(T v, Op op, T* scratch /* [32] in shared memory */) {
  constexpr int kWarps = THREADS / 32;
  if constexpr (kWarps == 1) {
    return op.warp(v);
  } else {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    v = op.warp(v);
    __syncthreads();  // scratch may still be read by a previous reduction
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < kWarps ? scratch[lane] : op.identity();
    return op.warp(v);
  }
}

struct MaxOp {
  __device__ float warp(float v) const { return warp_max(v); }
  __device__ float combine(float a, float b) const { return fmaxf(a, b); }
  __device__ float identity() const { return -INFINITY; }
};
struct SumOp {
  __device__ float warp(float v) const { return warp_sum(v); }
  __device__ float combine(float a, float b) const { return a + b; }
  __device__ float identity() const { return 0.0f; }
};
template <bool kBase2 = false>
struct MaxSumOp {
  __device__ MaxSum warp(MaxSum v) const { return warp_merge<kBase2>(v); }
  __device__ MaxSum identity() const { return MaxSum{}; }
};

}  // namespace fabench

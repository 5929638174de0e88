#pragma once
// Warp and block reductions shared by kernel families.
#include <cmath>

namespace fabench {

// The warp's max and sum, every lane gets them: float for the kernels, double for the fp64 forward
// that derives the backward's inputs, 64-bit integers for the streaming read's checksum (fmax is
// fmaxf for floats, so the float code is as it was).
template <class V>
__device__ __forceinline__ V warp_max(V v) {
#pragma unroll
  for (int o = 16; o > 0; o /= 2) v = fmax(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

template <class V>
__device__ __forceinline__ V warp_sum(V v) {
#pragma unroll
  for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// `op` over the lanes that differ from this one only in the bits of kLaneBits (0x1f: the whole
// warp; 0x1d: the 16 lanes of a row in attn.fa2), shuffling over the lowest bit first; every lane
// in the group gets the result.
template <unsigned kLaneBits, class Op>
__device__ __forceinline__ float lane_group_reduce(float v, Op op) {
#pragma unroll
  for (unsigned o = 1; o < 32; o *= 2)
    if (kLaneBits & o) v = op.combine(v, __shfl_xor_sync(0xffffffffu, v, o));
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

// The same merge in two phases: the warp's max first, then each lane's sum rescaled to it once
// and summed: one exponential a lane instead of two per shuffle step, and fewer instructions, but
// its registers live differently. Measured in softmax.fused (fp32, H100, one run, % of copy): the
// streamed long rows gain (4096x32768 dropout 72.7 -> 77.1, mask 87.0 -> 91.1, both 79.6 -> 80.8),
// while the register path's plain rows lose (8192x4096 95.2 -> 93.3; 1024x131072 92.0 -> 83.1:
// the 128-thread kernel of 8 vectors went from 56 to 64 registers, nine blocks an SM to eight).
template <bool kBase2 = false>
__device__ __forceinline__ MaxSum warp_merge_two_phase(MaxSum v) {
  const float m = warp_max(v.max);
  float s = 0.0f;  // a lane with nothing (max -inf) adds nothing, also when the whole warp is empty
  if (v.max != -INFINITY) s = v.sum * (kBase2 ? exp2f(v.max - m) : __expf(v.max - m));
  return {m, warp_sum(s)};
}

// Reduces across the `THREADS` threads of a block (THREADS a multiple of 32, at most 1024) with
// warp shuffles and one shared-memory exchange; every thread gets the result. kGuarded: first wait
// until a previous reduction's reads of `scratch` are done. Callers that pass a barrier between
// one reduction's reads and the next one's writes of the same scratch (e.g. by alternating two)
// can leave it out.
template <int THREADS, bool kGuarded = true, class T, class Op>
__device__ __forceinline__ T block_allreduce(T v, Op op, T* scratch /* [32] in shared memory */) {
  constexpr int kWarps = THREADS / 32;
  v = op.warp(v);
  if constexpr (kWarps > 1) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    if constexpr (kGuarded) __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < kWarps ? scratch[lane] : op.identity();
    v = op.warp(v);
  }
  return v;
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
template <bool kBase2 = false, bool kTwoPhase = false>
struct MaxSumOp {
  __device__ MaxSum warp(MaxSum v) const {
    return kTwoPhase ? warp_merge_two_phase<kBase2>(v) : warp_merge<kBase2>(v);
  }
  __device__ MaxSum identity() const { return MaxSum{}; }
};

}  // namespace fabench

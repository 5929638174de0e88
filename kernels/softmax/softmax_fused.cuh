#pragma once
// Pieces of softmax v5 (softmax.fused): 16-byte vectors, their mask bytes, and the mask and
// dropout decisions for one vector.
#include <cstdint>

#include "kernels/common/element.cuh"
#include "kernels/common/philox.h"
#include "kernels/common/reduce.cuh"
#include "kernels/softmax/softmax.h"

namespace fabench {
namespace softmax_v5 {

constexpr float kLog2e = 1.4426950408889634f;

// 16 bytes of T, aligned so a load or store is one 128-bit instruction.
template <class T>
struct alignas(16) Vec16 {
  static constexpr int kElems = 16 / sizeof(T);
  T v[kElems];
};

// The mask bytes of N consecutive columns (N = 4 or 8), aligned because cols and c are multiples of N.
template <int N>
struct MaskBytes;
template <>
struct MaskBytes<4> {
  uchar4 b;
  __device__ bool operator[](int e) const { return (&b.x)[e] != 0; }
};
template <>
struct MaskBytes<8> {
  uint2 b;
  __device__ bool operator[](int e) const { return ((e < 4 ? b.x : b.y) >> (8 * (e % 4))) & 0xffu; }
};

template <int N>
__device__ __forceinline__ bool kept(const SoftmaxArgs& a, std::int64_t row_last, std::int64_t c, int e,
                                     std::int32_t length, const MaskBytes<N>& m) {
  switch (a.mask_kind) {
    case SoftmaxMaskKind::causal: return c + e <= row_last;
    case SoftmaxMaskKind::lengths: return c + e < length;
    case SoftmaxMaskKind::tensor: return m[e];
    default: return true;
  }
}

// Dropout's keep decisions for the E elements of the vector whose first element is `first`, bit e
// for element first + e. The vector's first element is a multiple of E (4 or 8), so the vector
// lies in one Philox group of 8 elements: one call per vector, each word picked without a run-time
// index into the block (philox.h's dropout_bits, spelled out per e). (A per-element "same group?"
// test instead made the compiler inline up to 32 Philox bodies a thread: 8192x4096 with dropout
// fell from 3442 to 2457 GB/s.)
template <int E>
__device__ __forceinline__ std::uint32_t vector_keep_bits(const SoftmaxArgs& a, std::uint64_t first) {
  const Philox4 bits = philox4x32_10(first >> 3, a.seed);
  const bool high_half = E == 4 && ((first >> 2) & 1u);  // fp32: which half of the group
  std::uint32_t out = 0;
#pragma unroll
  for (int e = 0; e < E; ++e) {
    const int word = E == 8 ? e / 2 : e / 2 + (high_half ? 2 : 0);
    const std::uint32_t w = word == 0 ? bits.x[0] : word == 1 ? bits.x[1] : word == 2 ? bits.x[2] : bits.x[3];
    const std::uint32_t decision = (e & 1) ? (w >> 16) : (w & 0xFFFFu);
    if (decision >= a.dropout_threshold) out |= 1u << e;
  }
  return out;
}

// The keep bits of 4 fp32 elements from the two Philox words of their half of a group (w0:
// elements 0 and 1, w1: 2 and 3; low 16 bits for even elements), as vector_keep_bits decides.
__device__ __forceinline__ std::uint32_t half_group_keep_bits(const SoftmaxArgs& a, std::uint32_t w0,
                                                              std::uint32_t w1) {
  std::uint32_t out = 0;
#pragma unroll
  for (int e = 0; e < 4; ++e) {
    const std::uint32_t w = e < 2 ? w0 : w1;
    if (((e & 1) ? (w >> 16) : (w & 0xFFFFu)) >= a.dropout_threshold) out |= 1u << e;
  }
  return out;
}

// Each of the thread's scaled values (-inf where masked) becomes exp2(v - the thread's own max),
// summed into mine.sum: the row's max and sum then need one reduction (one cluster exchange), not
// two, and the thread rescales by exp2(mine.max - row.max) at the end (row_factor).
template <int ITEMS, int E>
__device__ __forceinline__ void exp_against_own_max(float (&v)[ITEMS][E], MaxSum& mine) {
  const float base = mine.max == -INFINITY ? 0.0f : mine.max;  // all masked: exp2(-inf) = 0
#pragma unroll
  for (int i = 0; i < ITEMS; ++i)
#pragma unroll
    for (int e = 0; e < E; ++e) {
      v[i][e] = exp2f(v[i][e] - base);
      mine.sum += v[i][e];
    }
}

// What turns the thread's exp2(v - mine.max) into the row's softmax. (A thread with nothing kept
// holds zeros; its factor must not be 0 * inf.)
__device__ __forceinline__ float row_factor(MaxSum mine, MaxSum row) {
  return row.sum > 0.0f && mine.max != -INFINITY ? exp2f(mine.max - row.max) / row.sum : 0.0f;
}

// Output vector i of the thread: v * factor, with dropout's keep bits (bit i E + e) applied.
template <class T, int ITEMS, int E>
__device__ __forceinline__ Vec16<T> output_vector(const SoftmaxArgs& a, const float (&v)[ITEMS][E], int i,
                                                  float factor, const std::uint32_t* keep, bool dropout) {
  Vec16<T> out;
#pragma unroll
  for (int e = 0; e < E; ++e) {
    float o = v[i][e] * factor;
    if (dropout) {
      const int bit = i * E + e;
      o = (keep[bit / 32] >> (bit % 32)) & 1u ? o * a.keep_scale : 0.0f;
    }
    out.v[e] = from_float<T>(o);
  }
  return out;
}

// The streamed path (softmax_fused_stream.cu): blocks of this many threads, each holding this many
// 16-byte vectors of a row.
constexpr int kStreamThreads = 1024;
constexpr int kStreamItems = 4;

}  // namespace softmax_v5

void softmax_fused_stream(const SoftmaxArgs& args, const SoftmaxFusedPlan& plan, cudaStream_t stream);

}  // namespace fabench

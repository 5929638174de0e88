#pragma once
// The end of a split-KV decode block, shared by the CUDA-core and tensor-core versions: merge the
// block's groups (warps or lane groups, each with its own online-softmax state) into one state
// per query row, write it (final output, or a normalised partial and its log-sum-exp), and let the
// last split of a (batch, KV head, row chunk) to finish merge all partials into the output.
//
// The last-block merge replaces a second kernel: no launch gap and no combine kernel on the
// critical path. Its counters are a zero-initialised device array (one per translation unit) that
// the merging block resets, so they are zero again for the next launch; launches of one file's
// kernels must therefore not overlap (fa-bench runs one launch at a time).
#include <cstdint>
#include <type_traits>

#include "kernels/common/reduce.cuh"
#include "kernels/decode/decode_common.cuh"

namespace fabench {

namespace {

constexpr int kMaxSplits = 256;
constexpr int kMaxSplitUnits = 1 << 16;
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

__device__ unsigned split_arrivals[kMaxSplitUnits];  // zero at load; every merge leaves its unit's at zero

struct SplitShape {
  int group_size;      // query heads per KV head
  int rows_per_group;  // group_size * q_len
  int splits;
  int split_tokens;    // a multiple of the kernel's tile
};

inline SplitShape split_shape(const DecodeArgs& a, const DecodeSplitPlan& plan) {
  const int group = static_cast<int>(a.heads / a.kv_heads);
  return {group, group * static_cast<int>(a.q_len), plan.splits, static_cast<int>(plan.split_tokens)};
}

template <int V>
using Int = std::integral_constant<int, V>;

// Grants a kernel its dynamic shared memory (above the 48 KiB default) and says how many of its
// blocks fit on one SM: what the planner fills waves with.
template <class Kernel>
int grant_smem_and_count_resident(Kernel kernel, int smem_bytes, int threads) {
  cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem_bytes);
  int blocks = 0;
  cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, kernel, threads, smem_bytes);
  return blocks;
}

// The query rows of one block: rows first_row .. of the GQA group of KV head kvh in sequence b.
struct BlockRows {
  std::int64_t b, kvh;
  int first_row;
};

// Row `row` of the group (head kvh * group_size + row / q_len, token row % q_len) as a row of o
// and lse, or -1 past the group.
__device__ __forceinline__ int query_row(const DecodeArgs& a, const SplitShape& shape, const BlockRows& rows, int row) {
  if (row >= shape.rows_per_group) return -1;
  const int q_len = static_cast<int>(a.q_len);
  const int head = static_cast<int>(rows.kvh) * shape.group_size + row / q_len;
  return (static_cast<int>(rows.b) * static_cast<int>(a.heads) + head) * q_len + row % q_len;
}

// Dynamic shared memory finish_split reuses for its last-block merge: the splits' weights per row,
// then a float4 per thread.
template <int ROWS, int THREADS>
constexpr int kCombineSmemBytes = ROWS * kMaxSplits * 4 + THREADS * 16;

// smem holds group_o [GROUPS][ROWS][D], then group_m and group_l [GROUPS][ROWS] (log2-domain max
// and sum of each group), written and synchronised by the caller; it is reused afterwards, so it
// must hold kCombineSmemBytes<ROWS, THREADS> too. Rows past the group are skipped.
template <class T, int D, int ROWS, int GROUPS, int THREADS>
__device__ __forceinline__ void finish_split(unsigned char* smem, const DecodeArgs& a, const SplitShape& shape,
                                             const BlockRows& rows, int split, int unit, float* part_o,
                                             float* part_lse) {
  static_assert(ROWS <= THREADS && D % 4 == 0, "a thread per row, then per 4-element vector");
  constexpr int kVectors = D / 4;
  const float* group_o = reinterpret_cast<const float*>(smem);
  const float* group_m = group_o + GROUPS * ROWS * D;
  const float* group_l = group_m + GROUPS * ROWS;
  __shared__ int out_rows[ROWS];
  __shared__ float group_weight[GROUPS][ROWS];  // exp2(m_g - max) / sum: the groups' shares of a row
  __shared__ float row_lse2[ROWS];
  const int valid_rows = min(ROWS, shape.rows_per_group - rows.first_row);  // rows past the group come last

  // A thread per row: the groups' weights and the row's log-sum-exp (log2 domain).
  if (threadIdx.x < valid_rows) {
    const int r = threadIdx.x;
    out_rows[r] = query_row(a, shape, rows, rows.first_row + r);
    float row_max = -INFINITY;
#pragma unroll
    for (int g = 0; g < GROUPS; ++g) row_max = fmaxf(row_max, group_m[g * ROWS + r]);
    float w[GROUPS], sum = 0.0f;
#pragma unroll
    for (int g = 0; g < GROUPS; ++g) {
      w[g] = row_max == -INFINITY ? 0.0f : exp2f(group_m[g * ROWS + r] - row_max);  // 0 for an empty group
      sum += group_l[g * ROWS + r] * w[g];
    }
#pragma unroll
    for (int g = 0; g < GROUPS; ++g) group_weight[g][r] = sum > 0.0f ? w[g] / sum : 0.0f;
    row_lse2[r] = sum > 0.0f ? row_max + log2f(sum) : -INFINITY;
  }
  __syncthreads();
  // A thread per 4 elements of a row: the normalised output, or this split's partial.
  for (int idx = threadIdx.x; idx < valid_rows * kVectors; idx += THREADS) {
    const int r = idx / kVectors, vec = idx % kVectors, out = out_rows[r];
    float4 acc = make_float4(0, 0, 0, 0);
#pragma unroll
    for (int g = 0; g < GROUPS; ++g) {
      const float w = group_weight[g][r];
      const float4 x = reinterpret_cast<const float4*>(group_o + (g * ROWS + r) * D)[vec];
      acc = make_float4(fmaf(w, x.x, acc.x), fmaf(w, x.y, acc.y), fmaf(w, x.z, acc.z), fmaf(w, x.w, acc.w));
    }
    if (shape.splits == 1) {
      T* dst = static_cast<T*>(a.o) + static_cast<std::int64_t>(out) * D + vec * 4;
      dst[0] = from_float<T>(acc.x), dst[1] = from_float<T>(acc.y), dst[2] = from_float<T>(acc.z);
      dst[3] = from_float<T>(acc.w);
      if (vec == 0) a.lse[out] = row_lse2[r] * kLn2;
    } else {
      const std::int64_t slot = static_cast<std::int64_t>(out) * shape.splits + split;
      reinterpret_cast<float4*>(part_o + slot * D)[vec] = acc;
      if (vec == 0) part_lse[slot] = row_lse2[r];
    }
  }
  if (shape.splits == 1) return;

  // The last split of this unit to arrive merges all of them: o = sum_s exp2(lse_s - lse) o_s with
  // lse = log2 sum_s exp2(lse_s), exact for normalised partials (an empty split: lse_s = -inf).
  __shared__ bool merges;
  __threadfence();  // this block's partials are visible device-wide before it counts itself
  __syncthreads();
  if (threadIdx.x == 0) merges = atomicAdd(&split_arrivals[unit], 1u) == static_cast<unsigned>(shape.splits - 1);
  __syncthreads();
  if (!merges) return;
  __threadfence();  // and every other split's partials are seen after the count that said so
  float* weight = reinterpret_cast<float*>(smem);  // [ROWS][kMaxSplits], the group states no longer needed
  for (int idx = threadIdx.x; idx < valid_rows * shape.splits; idx += THREADS) {
    const int r = idx / shape.splits, s = idx % shape.splits;
    weight[r * kMaxSplits + s] = __ldcg(part_lse + static_cast<std::int64_t>(out_rows[r]) * shape.splits + s);
  }
  __syncthreads();
  const int lane = threadIdx.x % 32;
  for (int r = threadIdx.x / 32; r < valid_rows; r += THREADS / 32) {
    float row_max = -INFINITY;
    for (int s = lane; s < shape.splits; s += 32) row_max = fmaxf(row_max, weight[r * kMaxSplits + s]);
    row_max = warp_max(row_max);
    float sum = 0.0f;
    if (row_max != -INFINITY)
      for (int s = lane; s < shape.splits; s += 32) sum += exp2f(weight[r * kMaxSplits + s] - row_max);
    sum = warp_sum(sum);
    const float lse2 = sum > 0.0f ? row_max + log2f(sum) : -INFINITY;
    for (int s = lane; s < shape.splits; s += 32)
      weight[r * kMaxSplits + s] = lse2 == -INFINITY ? 0.0f : exp2f(weight[r * kMaxSplits + s] - lse2);
    if (lane == 0) row_lse2[r] = lse2;
  }
  __syncthreads();
  // The weighted sums read a few kilobytes per row from L2 and are latency-bound: a thread per
  // (row, 4-element vector, share of the splits), kBatch loads issued before any is used, the
  // shares added through shared memory.
  constexpr int kBatch = 8;
  const int items = valid_rows * kVectors;
  int parts = 1;
  while (items * parts * 2 <= THREADS && parts * kBatch < shape.splits) parts *= 2;
  float4* part_sums = reinterpret_cast<float4*>(weight + ROWS * kMaxSplits);  // [THREADS]
  const int per_pass = THREADS / parts;
  for (int first_item = 0; first_item < items; first_item += per_pass) {
    const int item = first_item + static_cast<int>(threadIdx.x) % per_pass;
    const int part = static_cast<int>(threadIdx.x) / per_pass;
    const int r = item / kVectors, vec = item % kVectors;
    float4 acc = make_float4(0, 0, 0, 0);
    if (item < items) {
      const float4* partials =
          reinterpret_cast<const float4*>(part_o + static_cast<std::int64_t>(out_rows[r]) * shape.splits * D) + vec;
      for (int s0 = part; s0 < shape.splits; s0 += parts * kBatch) {
        float4 x[kBatch];
        float w[kBatch];
#pragma unroll
        for (int k = 0; k < kBatch; ++k) {
          const int s = s0 + k * parts;
          const bool inside = s < shape.splits;
          x[k] = inside ? __ldcg(partials + s * kVectors) : make_float4(0, 0, 0, 0);
          w[k] = inside ? weight[r * kMaxSplits + s] : 0.0f;
        }
#pragma unroll
        for (int k = 0; k < kBatch; ++k)
          acc = make_float4(fmaf(w[k], x[k].x, acc.x), fmaf(w[k], x[k].y, acc.y), fmaf(w[k], x[k].z, acc.z),
                            fmaf(w[k], x[k].w, acc.w));
      }
    }
    part_sums[threadIdx.x] = acc;
    __syncthreads();
    if (part == 0 && item < items) {
      for (int p = 1; p < parts; ++p) {
        const float4 x = part_sums[p * per_pass + threadIdx.x];
        acc.x += x.x, acc.y += x.y, acc.z += x.z, acc.w += x.w;
      }
      const int out = out_rows[r];
      T* dst = static_cast<T*>(a.o) + static_cast<std::int64_t>(out) * D + vec * 4;
      dst[0] = from_float<T>(acc.x), dst[1] = from_float<T>(acc.y), dst[2] = from_float<T>(acc.z);
      dst[3] = from_float<T>(acc.w);
      if (vec == 0) a.lse[out] = row_lse2[r] * kLn2;
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) split_arrivals[unit] = 0;
}

}  // namespace

}  // namespace fabench

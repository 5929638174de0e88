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

// Floats after the weights that hold the rows' log-sum-exps, keeping what follows 16-byte aligned.
template <int ROWS>
constexpr int kLseSlots = (ROWS + 3) / 4 * 4;

// Shared memory finish_split needs for its last-block merge.
template <int ROWS, int THREADS>
constexpr int kCombineSmemBytes = (ROWS * kMaxSplits + kLseSlots<ROWS>) * 4 + THREADS * 16;

// smem holds group_o [GROUPS][ROWS][D], then group_m and group_l [GROUPS][ROWS] (log2-domain max
// and sum of each group), written and synchronised by the caller; it is reused afterwards, so it
// must hold kCombineSmemBytes<ROWS, THREADS> too. Rows past the group are skipped.
template <class T, int D, int ROWS, int GROUPS, int THREADS>
__device__ __forceinline__ void finish_split(unsigned char* smem, const DecodeArgs& a, const SplitShape& shape,
                                             const BlockRows& rows, int split, int unit, float* part_o,
                                             float* part_lse) {
  const float* group_o = reinterpret_cast<const float*>(smem);
  const float* group_m = group_o + GROUPS * ROWS * D;
  const float* group_l = group_m + GROUPS * ROWS;
  for (int idx = threadIdx.x; idx < ROWS * D; idx += THREADS) {
    const int r = idx / D, c = idx % D;
    const int out = query_row(a, shape, rows, rows.first_row + r);
    if (out < 0) continue;
    float row_max = -INFINITY;
#pragma unroll
    for (int g = 0; g < GROUPS; ++g) row_max = fmaxf(row_max, group_m[g * ROWS + r]);
    float sum = 0.0f, acc = 0.0f;
    if (row_max != -INFINITY) {
#pragma unroll
      for (int g = 0; g < GROUPS; ++g) {
        const float w = exp2f(group_m[g * ROWS + r] - row_max);  // 0 for an empty group
        sum += group_l[g * ROWS + r] * w;
        acc += group_o[(g * ROWS + r) * D + c] * w;
      }
    }
    const float value = sum > 0.0f ? acc / sum : 0.0f;
    const float lse2 = sum > 0.0f ? row_max + log2f(sum) : -INFINITY;
    if (shape.splits == 1) {
      static_cast<T*>(a.o)[static_cast<std::int64_t>(out) * D + c] = from_float<T>(value);
      if (c == 0) a.lse[out] = lse2 * kLn2;
    } else {
      const std::int64_t slot = static_cast<std::int64_t>(out) * shape.splits + split;
      part_o[slot * D + c] = value;
      if (c == 0) part_lse[slot] = lse2;
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
  float* weight = reinterpret_cast<float*>(smem);  // [ROWS][kMaxSplits], then the rows' lse
  float* row_lse2 = weight + ROWS * kMaxSplits;     // then 16-byte aligned partial sums
  for (int idx = threadIdx.x; idx < ROWS * shape.splits; idx += THREADS) {
    const int r = idx / shape.splits, s = idx % shape.splits;
    const int out = query_row(a, shape, rows, rows.first_row + r);
    weight[r * kMaxSplits + s] =
        out >= 0 ? __ldcg(part_lse + static_cast<std::int64_t>(out) * shape.splits + s) : -INFINITY;
  }
  __syncthreads();
  const int lane = threadIdx.x % 32;
  for (int r = threadIdx.x / 32; r < ROWS; r += THREADS / 32) {
    float row_max = -INFINITY;
    for (int s = lane; s < shape.splits; s += 32) row_max = fmaxf(row_max, weight[r * kMaxSplits + s]);
    row_max = warp_max(row_max);
    float sum = 0.0f;
    if (row_max != -INFINITY)
      for (int s = lane; s < shape.splits; s += 32) sum += exp2f(weight[r * kMaxSplits + s] - row_max);
    sum = warp_sum(sum);
    if (lane == 0) row_lse2[r] = sum > 0.0f ? row_max + log2f(sum) : -INFINITY;
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < ROWS * shape.splits; idx += THREADS) {
    const int r = idx / shape.splits, s = idx % shape.splits;
    weight[r * kMaxSplits + s] = row_lse2[r] == -INFINITY ? 0.0f : exp2f(weight[r * kMaxSplits + s] - row_lse2[r]);
  }
  __syncthreads();
  // The weighted sums are latency-bound (a few kilobytes per row from L2): every valid row's
  // 4-element vectors at once, a thread per (row, vector, share of the splits), eight independent
  // loads in flight per thread, the shares added through shared memory.
  constexpr int kVectors = D / 4;
  const int valid_rows = min(ROWS, shape.rows_per_group - rows.first_row);
  const int items = valid_rows * kVectors;
  int parts = 1;
  while (items * parts * 2 <= THREADS && parts * 2 <= shape.splits) parts *= 2;
  float4* part_sums = reinterpret_cast<float4*>(row_lse2 + kLseSlots<ROWS>);  // [parts][items]
  for (int first_item = 0; first_item < items; first_item += THREADS / parts) {
    const int item = first_item + static_cast<int>(threadIdx.x) % (THREADS / parts);
    const int part = static_cast<int>(threadIdx.x) / (THREADS / parts);
    const int r = item / kVectors, vec = item % kVectors;
    float4 acc = make_float4(0, 0, 0, 0);
    if (item < items) {
      const int out = query_row(a, shape, rows, rows.first_row + r);
      const float4* partials =
          reinterpret_cast<const float4*>(part_o + static_cast<std::int64_t>(out) * shape.splits * D) + vec;
#pragma unroll 8
      for (int s = part; s < shape.splits; s += parts) {
        const float w = weight[r * kMaxSplits + s];
        const float4 x = __ldcg(partials + s * kVectors);
        acc = make_float4(fmaf(w, x.x, acc.x), fmaf(w, x.y, acc.y), fmaf(w, x.z, acc.z), fmaf(w, x.w, acc.w));
      }
    }
    part_sums[threadIdx.x] = acc;
    __syncthreads();
    if (part == 0 && item < items) {
      for (int p = 1; p < parts; ++p) {
        const float4 x = part_sums[p * (THREADS / parts) + threadIdx.x];
        acc.x += x.x, acc.y += x.y, acc.z += x.z, acc.w += x.w;
      }
      const int out = query_row(a, shape, rows, rows.first_row + r);
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

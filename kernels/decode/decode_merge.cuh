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

// Dynamic shared memory finish_split reuses for its last-block merge: a float4 and a float2 per thread.
template <int ROWS, int THREADS>
constexpr int kCombineSmemBytes = THREADS * (16 + 8);

// Arrival at a unit's counter: one acquire-release atomic (the block's partial stores, ordered
// before it by the barrier that precedes it, are released with it; the merging block's reads,
// after the barrier that follows it, acquire the others'). It replaced a fence, the atomic and a
// second fence (decode_split_mma.cu says what that measured).
__device__ __forceinline__ unsigned arrive_at(unsigned* counter) {
  unsigned old;
  asm volatile("atom.acq_rel.gpu.global.add.u32 %0, [%1], 1;\n" : "=r"(old) : "l"(counter) : "memory");
  return old;
}

// smem holds group_o [GROUPS][ROWS][STRIDE], then group_m and group_l [GROUPS][ROWS] (log2-domain
// max and sum of each group), written and synchronised by the caller; rows past the group need not
// be written, they are skipped. smem is reused afterwards, so it must hold
// kCombineSmemBytes<ROWS, THREADS> too. STRIDE: floats between rows of group_o (D, or padded so a
// warp's rows fall in different banks); BATCH: partials a merging thread has in flight at once.
template <class T, int D, int ROWS, int GROUPS, int THREADS, int STRIDE = D, int BATCH = 16>
__device__ __forceinline__ void finish_split(unsigned char* smem, const DecodeArgs& a, const SplitShape& shape,
                                             const BlockRows& rows, int split, int unit, float* part_o,
                                             float* part_lse) {
  static_assert(ROWS <= THREADS && D % 4 == 0, "a thread per row, then per 4-element vector");
  constexpr int kVectors = D / 4;
  const float* group_o = reinterpret_cast<const float*>(smem);
  const float* group_m = group_o + GROUPS * ROWS * STRIDE;
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
      const float4 x = reinterpret_cast<const float4*>(group_o + (g * ROWS + r) * STRIDE)[vec];
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
  // Arrival as a grid barrier counts it (arrive_at).
  __shared__ bool merges;
  __syncthreads();
  if (threadIdx.x == 0) merges = arrive_at(&split_arrivals[unit]) == static_cast<unsigned>(shape.splits - 1);
  __syncthreads();
  if (!merges) return;
  // The merge is a chain of L2 round trips on the kernel's critical path, so it takes as few as it
  // can: a thread per (row, 4-element vector, share of the splits) issues kBatch partials and their
  // log-sum-exps at once and folds them into a running (max, sum, weighted sum); the shares meet in
  // shared memory. (The previous merge read the log-sum-exps first, then the partials 8 at a time.)
  constexpr int kBatch = BATCH;
  const int items = valid_rows * kVectors;
  int parts = 1;
  while (items * parts * 2 <= THREADS && parts * kBatch < shape.splits) parts *= 2;
  float4* share_acc = reinterpret_cast<float4*>(smem);              // [THREADS], the group states are spent
  float2* share_state = reinterpret_cast<float2*>(share_acc + THREADS);  // [THREADS]: max, sum
  const int per_pass = THREADS / parts;
  for (int first_item = 0; first_item < items; first_item += per_pass) {
    const int item = first_item + static_cast<int>(threadIdx.x) % per_pass;
    const int part = static_cast<int>(threadIdx.x) / per_pass;
    const int r = item / kVectors, vec = item % kVectors;
    float m = -INFINITY, sum = 0.0f;
    float4 acc = make_float4(0, 0, 0, 0);
    if (item < items) {
      const std::int64_t first_slot = static_cast<std::int64_t>(out_rows[r]) * shape.splits;
      for (int s0 = part; s0 < shape.splits; s0 += parts * kBatch) {
        float4 x[kBatch];
        float lse[kBatch];
#pragma unroll
        for (int k = 0; k < kBatch; ++k) {
          const int s = s0 + k * parts;
          const bool inside = s < shape.splits;
          x[k] = inside ? __ldcg(reinterpret_cast<const float4*>(part_o + (first_slot + s) * D) + vec)
                        : make_float4(0, 0, 0, 0);
          lse[k] = inside ? __ldcg(part_lse + first_slot + s) : -INFINITY;
        }
        float m_new = m;
#pragma unroll
        for (int k = 0; k < kBatch; ++k) m_new = fmaxf(m_new, lse[k]);
        if (m_new == -INFINITY) continue;  // all empty so far
        const float c = exp2f(m - m_new);  // 0 while m is -inf
        acc = make_float4(acc.x * c, acc.y * c, acc.z * c, acc.w * c);
        sum *= c;
#pragma unroll
        for (int k = 0; k < kBatch; ++k) {
          const float w = exp2f(lse[k] - m_new);
          sum += w;
          acc = make_float4(fmaf(w, x[k].x, acc.x), fmaf(w, x[k].y, acc.y), fmaf(w, x[k].z, acc.z),
                            fmaf(w, x[k].w, acc.w));
        }
        m = m_new;
      }
    }
    share_acc[threadIdx.x] = acc;
    share_state[threadIdx.x] = make_float2(m, sum);
    __syncthreads();
    if (part == 0 && item < items) {
      for (int p = 1; p < parts; ++p) {
        const float2 other = share_state[p * per_pass + threadIdx.x];
        const float m_new = fmaxf(m, other.x);
        if (m_new == -INFINITY) continue;
        const float c = exp2f(m - m_new), c_other = exp2f(other.x - m_new);
        const float4 x = share_acc[p * per_pass + threadIdx.x];
        acc = make_float4(fmaf(c_other, x.x, acc.x * c), fmaf(c_other, x.y, acc.y * c), fmaf(c_other, x.z, acc.z * c),
                          fmaf(c_other, x.w, acc.w * c));
        sum = sum * c + other.y * c_other;
        m = m_new;
      }
      const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
      const int out = out_rows[r];
      T* dst = static_cast<T*>(a.o) + static_cast<std::int64_t>(out) * D + vec * 4;
      dst[0] = from_float<T>(acc.x * inv), dst[1] = from_float<T>(acc.y * inv), dst[2] = from_float<T>(acc.z * inv);
      dst[3] = from_float<T>(acc.w * inv);
      if (vec == 0) a.lse[out] = sum > 0.0f ? (m + log2f(sum)) * kLn2 : -INFINITY;
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) split_arrivals[unit] = 0;
}

}  // namespace

}  // namespace fabench

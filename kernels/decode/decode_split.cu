// decode v2, Flash-Decoding (decode.h): the cache of each (batch, KV head) split over blocks,
// every query row of the GQA group fed by each K/V row read, partials combined by log-sum-exp.
//
// Loads. One thread asks the copy engine for each tile of kTile tokens of K and V
// (cp.async.bulk: one copy per contiguous run, i.e. per tile when the cache is contiguous and per
// page when pages are smaller than a tile) into a ring of kStages shared-memory stages counted on
// mbarriers, so the 128 threads spend no instructions on loads and several tiles are in flight.
// A first version loaded K and V rows into registers (16-byte __ldg, 4 tokens per group): at
// 161 registers it streamed 1.27-2.46 TB/s on an H200 where cuDNN reads 1.75-4.69 (bf16 d128,
// 32/8 heads, batch 1-64, cache 8k-128k, clean L2), too few bytes in flight per SM. The bulk
// copies (4 stages of 4 tokens per group) took it to 3.2-3.6 TB/s at 32/8 heads and 4.5 at 32/32
// (H200, the working tree of 9e6fad1): then the CUDA-core arithmetic of 4 query rows per KV head
// is the limit, which v3 moves to tensor cores. 8 stages at 1 block per SM: 1.9 TB/s; 4 tokens
// per group beat 2 and 8.
//
// Arithmetic. Groups of d/8 lanes (8, 16 or 32), a lane holding 8 elements of d; a group owns
// kTokensPerGroup consecutive tokens of a tile: ROWS dot products per token (the group's query
// rows, then a shuffle reduction over the group's lanes) and its own online softmax. At the end
// the groups' (max, sum, o) are merged through shared memory. Scores are in the log2 domain (log2 e
// folded into the query) so each exponential is one exp2.
//
// Combine. Each split writes its normalised o and log-sum-exp (fp32) to the workspace; the last
// block of a (batch, KV head, row chunk) to finish (a counter per unit) merges them, so no second
// kernel launch sits on the critical path. The counters are a zero-initialised device array that
// the merging block resets, so they are zero again for the next launch; one launch at a time.
#include <cuda_runtime.h>

#include <algorithm>
#include <type_traits>

#include "kernels/common/bulk_copy.cuh"
#include "kernels/common/element.cuh"
#include "kernels/common/reduce.cuh"
#include "kernels/decode/decode_merge.cuh"
#include "kernels/decode/decode_split_kernels.h"

namespace fabench {

namespace {

constexpr int kThreads = 128;
constexpr int kTokensPerGroup = 4;
constexpr int kStages = 4;

template <class T, int D, int ROWS>
struct SplitTraits {
  static constexpr int kLanes = D / 8;
  static constexpr int kGroups = kThreads / kLanes;
  static constexpr int kTile = kGroups * kTokensPerGroup;  // 4096 / D tokens per stage
  static constexpr int kRowBytes = D * static_cast<int>(sizeof(T));
  static constexpr int kStageBytes = 2 * kTile * kRowBytes;  // K then V
  static constexpr int kMergeBytes = kGroups * ROWS * (D + 2) * 4;
  static constexpr int kCombineBytes = kCombineSmemBytes<ROWS, kThreads>;
  static constexpr int kSmemBytes = std::max({kStages * kStageBytes, kMergeBytes, kCombineBytes});
};

template <class T, int D, int ROWS>
__global__ void __launch_bounds__(kThreads) decode_split_kernel(DecodeArgs a, KvRowAddress addr, SplitShape shape,
                                                                float* part_o, float* part_lse) {
  using Traits = SplitTraits<T, D, ROWS>;
  constexpr int kLanes = Traits::kLanes, kGroups = Traits::kGroups, kTile = Traits::kTile;
  constexpr int U = kTokensPerGroup;
  extern __shared__ __align__(128) unsigned char smem[];
  __shared__ __align__(8) std::uint64_t landed[kStages];
  const int lane_in_group = threadIdx.x % kLanes;
  const int group = threadIdx.x / kLanes;

  const int split = blockIdx.x;
  const int unit = blockIdx.y * gridDim.z + blockIdx.z;
  const std::int64_t b = blockIdx.y / a.kv_heads, kvh = blockIdx.y % a.kv_heads;
  const int first_row = blockIdx.z * ROWS;
  const int q_len = static_cast<int>(a.q_len);
  const int length = a.lengths[b];
  const int begin = split * shape.split_tokens;
  const int end = min(begin + shape.split_tokens, length);
  const int tiles = end > begin ? (end - begin + kTile - 1) / kTile : 0;

  const std::uint32_t smem_base = static_cast<std::uint32_t>(__cvta_generic_to_shared(smem));
  const std::uint32_t landed_base = static_cast<std::uint32_t>(__cvta_generic_to_shared(landed));
  // Thread 0 asks for tile `it`'s K and V rows: one bulk copy per contiguous run of tokens.
  auto fetch = [&](int it) {
    const int slot = it % kStages, first = begin + it * kTile, count = min(kTile, end - first);
    const std::uint32_t bar = landed_base + 8 * slot;
    const std::uint32_t k_dst = smem_base + slot * Traits::kStageBytes, v_dst = k_dst + kTile * Traits::kRowBytes;
    mbarrier_arrive_expect_bytes(bar, 2u * count * Traits::kRowBytes);
    const int run = addr.page_table ? min(kTile, addr.page_size) : kTile;
    for (int t = 0; t < count; t += run) {
      const std::uint32_t bytes = min(run, count - t) * Traits::kRowBytes;
      const std::int64_t off = addr.offset(b, kvh, first + t);
      bulk_copy_to_shared(k_dst + t * Traits::kRowBytes, static_cast<const T*>(a.k_cache) + off, bytes, bar);
      bulk_copy_to_shared(v_dst + t * Traits::kRowBytes, static_cast<const T*>(a.v_cache) + off, bytes, bar);
    }
  };
  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; ++s) mbarrier_init(landed_base + 8 * s, 1);
    mbarrier_init_fence();
    for (int it = 0; it < min(kStages, tiles); ++it) fetch(it);
  }

  // The block's query rows (query_row); row r sees tokens t < limit[r]. 32-bit indices: lengths
  // are int32.
  float q[ROWS][8];
  int limit[ROWS];
  const float q_scale = a.scale * kLog2e;
#pragma unroll
  for (int r = 0; r < ROWS; ++r) {
    const int row = first_row + r, out = query_row(a, shape, BlockRows{b, kvh, first_row}, row);
    limit[r] = out >= 0 ? min(end, length - q_len + row % q_len + 1) : 0;
    if (out >= 0) {
      Vec8<T> v;
      v.load(static_cast<const T*>(a.q) + static_cast<std::int64_t>(out) * D + lane_in_group * 8);
      v.to_floats(q[r]);
#pragma unroll
      for (int e = 0; e < 8; ++e) q[r][e] *= q_scale;
    } else {
#pragma unroll
      for (int e = 0; e < 8; ++e) q[r][e] = 0.0f;
    }
  }

  float m[ROWS], l[ROWS], o[ROWS][8];
#pragma unroll
  for (int r = 0; r < ROWS; ++r) {
    m[r] = -INFINITY;
    l[r] = 0.0f;
#pragma unroll
    for (int e = 0; e < 8; ++e) o[r][e] = 0.0f;
  }
  __syncthreads();  // the barriers are initialised before anyone waits on them

  const T* tiles_base = reinterpret_cast<const T*>(smem);
  for (int it = 0; it < tiles; ++it) {
    const int slot = it % kStages;
    mbarrier_wait_parity(landed_base + 8 * slot, (it / kStages) & 1);
    const T* k_tile = tiles_base + slot * (Traits::kStageBytes / static_cast<int>(sizeof(T)));
    const T* v_tile = k_tile + kTile * D;
    const int first = begin + it * kTile + group * U;  // this group's tokens: first .. first + U - 1
    float s[ROWS][U];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      Vec8<T> k;
      k.load_shared(k_tile + (group * U + u) * D + lane_in_group * 8);
      float kf[8];
      k.to_floats(kf);
#pragma unroll
      for (int r = 0; r < ROWS; ++r) {
        float acc = 0.0f;
#pragma unroll
        for (int e = 0; e < 8; ++e) acc = fmaf(q[r][e], kf[e], acc);
        s[r][u] = acc;
      }
    }
#pragma unroll
    for (int r = 0; r < ROWS; ++r)
#pragma unroll
      for (int u = 0; u < U; ++u)
#pragma unroll
        for (int offset = kLanes / 2; offset > 0; offset /= 2)
          s[r][u] += __shfl_xor_sync(0xffffffffu, s[r][u], offset);

#pragma unroll
    for (int r = 0; r < ROWS; ++r) {
      float tile_max = -INFINITY;
#pragma unroll
      for (int u = 0; u < U; ++u) {
        if (first + u >= limit[r]) s[r][u] = -INFINITY;  // past the split, the cache, or causal
        tile_max = fmaxf(tile_max, s[r][u]);
      }
      const float m_new = fmaxf(m[r], tile_max);
      if (m_new == -INFINITY) {  // nothing visible yet: contribute nothing
#pragma unroll
        for (int u = 0; u < U; ++u) s[r][u] = 0.0f;
        continue;
      }
      const float rescale = exp2f(m[r] - m_new);  // 0 when m was -inf
      float sum = 0.0f;
#pragma unroll
      for (int u = 0; u < U; ++u) {
        s[r][u] = exp2f(s[r][u] - m_new);
        sum += s[r][u];
      }
      l[r] = l[r] * rescale + sum;
      m[r] = m_new;
#pragma unroll
      for (int e = 0; e < 8; ++e) o[r][e] *= rescale;
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      if (first + u >= end) break;  // rows past the tile's end hold stale shared memory, maybe NaN
      Vec8<T> v;
      v.load_shared(v_tile + (group * U + u) * D + lane_in_group * 8);
      float vf[8];
      v.to_floats(vf);
#pragma unroll
      for (int r = 0; r < ROWS; ++r)
#pragma unroll
        for (int e = 0; e < 8; ++e) o[r][e] = fmaf(s[r][u], vf[e], o[r][e]);
    }
    __syncthreads();  // every group is done with the slot before it is refilled
    if (threadIdx.x == 0 && it + kStages < tiles) fetch(it + kStages);
  }

  // Merge the groups' states (the pipeline's shared memory, now idle, holds them).
  float* group_o = reinterpret_cast<float*>(smem);  // [kGroups][ROWS][D]
  float* group_m = group_o + kGroups * ROWS * D;    // [kGroups][ROWS]
  float* group_l = group_m + kGroups * ROWS;
#pragma unroll
  for (int r = 0; r < ROWS; ++r) {
    float4* dst = reinterpret_cast<float4*>(group_o + (group * ROWS + r) * D + lane_in_group * 8);
    dst[0] = make_float4(o[r][0], o[r][1], o[r][2], o[r][3]);
    dst[1] = make_float4(o[r][4], o[r][5], o[r][6], o[r][7]);
    if (lane_in_group == 0) {
      group_m[group * ROWS + r] = m[r];
      group_l[group * ROWS + r] = l[r];
    }
  }
  __syncthreads();
  finish_split<T, D, ROWS, kGroups, kThreads>(smem, a, shape, BlockRows{b, kvh, first_row}, split, unit, part_o,
                                              part_lse);
}

int rows_per_block_for(std::int64_t rows_per_group) {
  for (int rows : {1, 2, 4})
    if (rows_per_group <= rows) return rows;
  return 8;
}

// Calls f(T{}, Int<D>{}, Int<ROWS>{}) for the compiled instance; false when d is not compiled.
template <class F>
bool with_instance(KernelElem elem, std::int64_t head_dim, int rows, F&& f) {
  auto by_rows = [&](auto t, auto d) {
    switch (rows) {
      case 1: f(t, d, Int<1>{}); return true;
      case 2: f(t, d, Int<2>{}); return true;
      case 4: f(t, d, Int<4>{}); return true;
      case 8: f(t, d, Int<8>{}); return true;
    }
    return false;
  };
  auto by_dim = [&](auto t) {
    switch (head_dim) {
      case 64: return by_rows(t, Int<64>{});
      case 128: return by_rows(t, Int<128>{});
      case 256: return by_rows(t, Int<256>{});
    }
    return false;
  };
  return with_elem(elem, by_dim);
}

// The kernel of an instance with its dynamic shared memory granted (once per instance), and how
// many of its blocks fit on an SM.
template <class T, int D, int ROWS>
int prepare_instance() {
  static const int resident =
      grant_smem_and_count_resident(decode_split_kernel<T, D, ROWS>, SplitTraits<T, D, ROWS>::kSmemBytes, kThreads);
  return resident;
}

}  // namespace

SplitKernelShape decode_split_v2_shape(const DecodeArgs& a) {
  SplitKernelShape shape;
  shape.rows_per_block = rows_per_block_for((a.heads / a.kv_heads) * a.q_len);
  shape.tile = a.head_dim > 0 ? kThreads / static_cast<int>(a.head_dim / 8) * kTokensPerGroup : 1;
  shape.compiled = with_instance(a.elem, a.head_dim, shape.rows_per_block, [&](auto t, auto d, auto rows) {
    shape.resident_blocks = prepare_instance<decltype(t), decltype(d)::value, decltype(rows)::value>();
  });
  return shape;
}

bool decode_split_v2(const DecodeArgs& a, const DecodeSplitPlan& plan, void* workspace, cudaStream_t stream) {
  const KvRowAddress addr = kv_row_address(a.kv_heads, a.max_len, a.head_dim, a.page_table, a.page_size);
  const SplitShape shape = split_shape(a, plan);
  float* part_o = static_cast<float*>(workspace);
  float* part_lse = part_o ? part_o + a.batch * a.heads * a.q_len * plan.splits * a.head_dim : nullptr;
  return with_instance(a.elem, a.head_dim, plan.rows_per_block, [&](auto t, auto d, auto rows_tag) {
    using T = decltype(t);
    constexpr int D = decltype(d)::value, ROWS = decltype(rows_tag)::value;
    prepare_instance<T, D, ROWS>();
    const dim3 grid(plan.splits, static_cast<unsigned>(a.batch * a.kv_heads), plan.row_chunks);
    decode_split_kernel<T, D, ROWS>
        <<<grid, kThreads, SplitTraits<T, D, ROWS>::kSmemBytes, stream>>>(a, addr, shape, part_o, part_lse);
  });
}

}  // namespace fabench

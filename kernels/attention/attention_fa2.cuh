#pragma once
// attn.fa2's kernel (the history of its versions heads attention_fa2.cu): FlashAttention-2 in fp32
// on CUDA cores, its traits and transposing tile loads. The key loop takes a policy
// (attention_keys.cuh): DenseKeys is attention's (attention_fa2.cu, compiled as it was before the
// policy); SparseKeys runs block masks (attention_sparse_fa2.cu).
#include "kernels/attention/attention.h"
#include "kernels/attention/attention_block.cuh"
#include "kernels/attention/attention_keys.cuh"
#include "kernels/common/mma.cuh"
#include "kernels/common/reduce.cuh"

namespace fabench {

namespace {

constexpr int kTile = 64;  // keys per K/V tile (block_n)

// BM query rows a block, RM of them a thread: the 16 threads of a row group share 4 of the tile's
// 64 keys each, so a block has 16 BM / RM threads (64 rows: RM 4 256 threads, RM 8 128).
template <int BM, int D, int RM>
struct Fa2Traits {
  static_assert(D == 32 || D % 64 == 0, "dims per thread: 2 (d32) or 4 per 64-dim group");
  static_assert(BM == 64 || BM == 128, "64 or 128 query rows a block");
  static_assert(RM == 4 || RM == 8, "4 or 8 query rows per thread");
  static constexpr int kThreads = 16 * BM / RM;
  // Padded rows of the transposed tiles (16-byte aligned, 4 mod 32 banks): Q^T and P^T hold BM
  // query rows a dim or key, K^T kTile keys a dim.
  static constexpr int kQStride = BM + 4;
  static constexpr int kKStride = kTile + 4;
  static constexpr int kVec = D == 32 ? 2 : 4;        // O dims per thread per group
  static constexpr int kGroups = D == 32 ? 1 : D / 64;  // 64-dim groups (16 threads x kVec)
  // d256 and 128-row blocks hold one block per SM, so no other block computes while their tiles
  // load: the next K tile is fetched into registers during P V and V by cp.async during S (v2.3).
  // 64-row d64 and d128 blocks run two or more per SM and lost with it (the registers cost
  // occupancy or spilled).
  static constexpr bool kPrefetch = D == 256 || BM == 128;
  // P^T reuses K^T's buffer once S is computed where it is large enough, so that 64-row d128
  // blocks fit two per SM (102 KB each instead of 119) and d64 four; prefetching blocks, alone on
  // their SM, give P^T its own buffer: the next K^T is stored while P V reads P^T, two barriers a
  // tile instead of four (v2.5).
  static constexpr bool kPInK = !kPrefetch && D * kKStride >= kTile * kQStride;
  static constexpr std::size_t kSmemFloats = static_cast<std::size_t>(D) * (kQStride + kKStride) +
                                             static_cast<std::size_t>(kTile) * D + (kPInK ? 0 : kTile * kQStride);
  static constexpr std::size_t kSmemBytes = kSmemFloats * sizeof(float);
  // 16-byte tile loads in flight before their stores. d64 takes them one at a time: four took it
  // from 64 registers to 80, three blocks per SM where shared memory holds four.
  static constexpr int kLoadBatch = D == 64 ? 1 : 4;
  // Dims of S and keys of P V an unrolled iteration takes (each loop's first FFMA waits on its
  // loads; v2.7, H100 A/B, two passes, TFLOP/s at seq 2048 / 8192 against 8 and 4): d256 S 16
  // 33.1 -> 33.6 / 33.6 -> 34.1, P V 8 lost 2-4%; d64 8 rows a thread S 32, P V 8 34.3 -> 35.4 /
  // 34.8 -> 35.9; d64 4 rows and d128 64-row blocks S 16, P V 8 +1-5% (d64 4 rows: ptxas keeps
  // 64 registers and spills 8 bytes, 29.5 -> 33.3 still); 128-row blocks keep 8 and 4 (16 / 4
  // lost 1%).
  static constexpr int kSUnroll = BM == 128 ? 8 : D == 64 && RM == 8 ? 32 : 16;
  static constexpr int kPvUnroll = BM == 128 || D == 256 ? 4 : 8;
};

// A [rows][D] tile of `src` (rows at or past rows_left read as 0) stored transposed into dst[D][STRIDE],
// multiplied by `mul`. A warp takes 16 rows x 8 columns: lanes 0-15 read 16 bytes of rows r..r+15,
// lanes 16-31 the next 16 bytes of the same rows (one 32-byte sector a row), and each of the four
// scalar stores hits 32 different banks (dim c + k and c + 4 + k rows are 16 banks apart, since
// STRIDE = 4 mod 32). (v2 gave a warp one row's 128 dims: the stores, 272 floats apart, fell on
// two banks, 14.2-way conflicts on average by Nsight Compute, at d128 H100.)
template <int ROWS, int D, int THREADS, int STRIDE>
struct TransposedTile {
  static constexpr int kColGroups = D / 4;  // 16-byte groups a row; even, so a warp's two stay in one row block
  static_assert(kColGroups % 2 == 0 && ROWS * kColGroups % THREADS == 0, "whole warps of 16 rows x 2 groups");
  static constexpr int kLoads = ROWS * kColGroups / THREADS;  // 16-byte loads a thread
  // Row and first column of load i of this thread.
  __device__ static void slot(int i, int& r, int& c) {
    const int e = static_cast<int>(threadIdx.x) + i * THREADS, rest = e / 16;
    r = 16 * (rest / kColGroups) + e % 16;
    c = 4 * (rest % kColGroups);
  }
  // The thread's part of a [ROWS][D] tile of `src` into registers (rows at or past rows_left as 0).
  __device__ static void fetch(float4 (&x)[kLoads], const float* src, std::int64_t rows_left) {
#pragma unroll
    for (int i = 0; i < kLoads; ++i) {
      int r, c;
      slot(i, r, c);
      x[i] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      if (r < rows_left) x[i] = *reinterpret_cast<const float4*>(src + static_cast<std::size_t>(r) * D + c);
    }
  }
  // Columns c..c + 3 of row r into dst[D][STRIDE], transposed and multiplied by `mul`.
  __device__ static void put(float* dst, int r, int c, float4 x, float mul) {
    dst[(c + 0) * STRIDE + r] = x.x * mul;
    dst[(c + 1) * STRIDE + r] = x.y * mul;
    dst[(c + 2) * STRIDE + r] = x.z * mul;
    dst[(c + 3) * STRIDE + r] = x.w * mul;
  }
  // ... and the fetched part from registers into dst.
  __device__ static void store(float* dst, const float4 (&x)[kLoads], float mul) {
#pragma unroll
    for (int i = 0; i < kLoads; ++i) {
      int r, c;
      slot(i, r, c);
      put(dst, r, c, x[i], mul);
    }
  }
};

// A [ROWS][D] tile straight into dst[D][STRIDE] (transposed, times `mul`), BATCH loads in flight
// at a time: fewer registers than TransposedTile's fetch-all.
template <int ROWS, int D, int THREADS, int STRIDE, int BATCH>
__device__ __forceinline__ void load_transposed(float* dst, const float* src, std::int64_t rows_left, float mul) {
  using Tile = TransposedTile<ROWS, D, THREADS, STRIDE>;
#pragma unroll (BATCH)
  for (int i = 0; i < Tile::kLoads; ++i) {
    int r, c;
    Tile::slot(i, r, c);
    float4 x = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if (r < rows_left) x = *reinterpret_cast<const float4*>(src + static_cast<std::size_t>(r) * D + c);
    Tile::put(dst, r, c, x, mul);
  }
}

// A thread's RM query rows at one dim of Q^T or one key of P^T: RM / 4 16-byte loads.
template <int RM>
__device__ __forceinline__ void load_row_block(float (&out)[RM], const float* from) {
#pragma unroll
  for (int h = 0; h < RM / 4; ++h) {
    const float4 x = *reinterpret_cast<const float4*>(from + 4 * h);
    out[4 * h] = x.x, out[4 * h + 1] = x.y, out[4 * h + 2] = x.z, out[4 * h + 3] = x.w;
  }
}

// Keys: the key loop's policy (attention_keys.cuh; block masks: SparseKeys); mask: its block mask
// (empty for DenseKeys).
template <int BM, int BN, int D, int RM, class Keys = DenseKeys>
__global__ void __launch_bounds__(Fa2Traits<BM, D, RM>::kThreads)
    attention_fa2_kernel(AttentionArgs a, AttentionSchedule sched, typename Keys::Args mask) {
  static_assert(BN == kTile, "64-key tiles");
  static_assert(!Keys::kBlockMask || Keys::kSkip, "block masks: SparseKeys");
  using Tr = Fa2Traits<BM, D, RM>;
  constexpr int kThreads = Tr::kThreads, kVec = Tr::kVec, kGroups = Tr::kGroups;
  constexpr int kQStride = Tr::kQStride, kKStride = Tr::kKStride;
  extern __shared__ __align__(16) float smem[];
  float* q_t = smem;                 // [D][kQStride]: Q^T, scaled
  float* k_t = q_t + D * kQStride;   // [D][kKStride]: K^T
  float* v_s = k_t + D * kKStride;   // [kTile][D]
  float* p_t = Tr::kPInK ? k_t : v_s + kTile * D;  // [kTile keys][kQStride]: P^T

  // Lane layout (v2.7): thread (tr, tc) holds rows RM tr.., keys 4 tc.. and O dims kVec tc + 64 g;
  // a warp holds row groups 2 w and 2 w + 1, lane bit 1 picking which, so lanes n and n ^ 1 load
  // the same Q^T or P^T address and lanes n and n ^ 2 the same K^T or V address (2 wavefronts a
  // 16-byte load instead of 4). A row's 16 threads are the lanes that differ in bits 0, 2, 3, 4.
  constexpr unsigned kRowLanes = 0x1d;
  const int tid = threadIdx.x, tr = 2 * (tid / 32) + (tid / 2) % 2, tc = (tid & 1) | ((tid / 4) % 8) << 1;
  const int key0 = 4 * tc;  // this thread's 4 keys of a tile: key0..key0 + 3
  auto dim0 = [&](int g) { return g * 16 * kVec + kVec * tc; };  // its kVec O dims of group g
  const AttentionBlock<float, D> blk(a, sched, BM);
  const std::int64_t bh = blk.bh, i0 = blk.i0, diag = blk.diag, key_end = blk.key_end;
  const float *q = blk.q, *k = blk.k, *v = blk.v;
  const float scale_log2 = a.scale * 1.4426950408889634f;  // exp(x) = exp2(x log2 e)

  load_transposed<BM, D, kThreads, kQStride, Tr::kLoadBatch>(q_t, q, a.seq_q - i0, scale_log2);
  float o[RM][kGroups * kVec] = {};
  float m_run[RM], l_run[RM];  // l_run: this thread's share of the row sum, reduced at the end
#pragma unroll
  for (int i = 0; i < RM; ++i) {
    m_run[i] = -INFINITY;
    l_run[i] = 0.0f;
  }
  // kPrefetch: V tiles go by cp.async, 16 bytes a thread, zero-filled past seq_k, one commit group a tile.
  auto fetch_v = [&](std::int64_t j0) {
    for (int e = tid; e < BN * D / 4; e += kThreads) {
      const int r = e / (D / 4);
      const bool valid = j0 + r < a.seq_k;
      cp_async_16(smem_address(v_s + 4 * e), v + (valid ? j0 * D + 4 * static_cast<std::int64_t>(e) : 0), valid);
    }
    cp_async_commit();
  };
  using Tile = TransposedTile<kTile, D, kThreads, kKStride>;
  float4 staged[Tile::kLoads];  // kPrefetch: the next K tile, during P V (unused otherwise)

  // SparseKeys: the tile's CSR row; step j of the loop is its key tile kt, first key j0.
  const MaskRowOf<Keys, BN> mrow(mask, bh, i0);
  [[maybe_unused]] const int n_steps = mrow.steps();
  if constexpr (Tr::kPrefetch) {
    if constexpr (Keys::kSkip) {
      if (n_steps > 0) {
        const std::int64_t first = static_cast<std::int64_t>(mrow.key_tile(0)) * BN;
        load_transposed<kTile, D, kThreads, kKStride, Tr::kLoadBatch>(k_t, k + first * D, a.seq_k - first, 1.0f);
        fetch_v(first);
      }
    } else if (key_end > 0) {
      load_transposed<kTile, D, kThreads, kKStride, Tr::kLoadBatch>(k_t, k, a.seq_k, 1.0f);
      fetch_v(0);
    }
    __syncthreads();  // K^T_0 is in shared memory
  }
  // SparseKeys: j0 walks the list's key tiles, the next one read at the top of a step (next_j0,
  // key_end past the last), and `step` counts them; kind is the step's.
  [[maybe_unused]] int step = 0;
  [[maybe_unused]] std::int64_t next_j0 = 0;
  std::int64_t first_j0 = 0;
  if constexpr (Keys::kSkip) first_j0 = n_steps > 0 ? static_cast<std::int64_t>(mrow.key_tile(0)) * BN : key_end;
  for (std::int64_t j0 = first_j0; j0 < key_end; j0 = Keys::kSkip ? next_j0 : j0 + BN) {
    int kind = kKeysFull;
    if constexpr (Keys::kSkip) {
      kind = mrow.kind(step);
      next_j0 = ++step < n_steps ? static_cast<std::int64_t>(mrow.key_tile(step)) * BN : key_end;
    }
    const bool more = (Keys::kSkip ? next_j0 : j0 + BN) < key_end;
    if constexpr (!Tr::kPrefetch) {
      __syncthreads();  // every thread is done with the previous tile's K, V and P
      load_transposed<kTile, D, kThreads, kKStride, Tr::kLoadBatch>(k_t, k + j0 * D, a.seq_k - j0, 1.0f);
#pragma unroll (Tr::kLoadBatch)
      for (int e = tid; e < BN * D / 4; e += kThreads) {
        const int r = e / (D / 4);
        float4 x = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (j0 + r < a.seq_k) x = *reinterpret_cast<const float4*>(v + j0 * D + 4 * static_cast<std::size_t>(e));
        *reinterpret_cast<float4*>(v_s + 4 * e) = x;
      }
      __syncthreads();  // K^T and V of this tile are in shared memory
    }
    // Causal, 128-row blocks: a warp whose rows all end before this tile (its 2 RM rows from
    // RM (tr & ~1)) sees none of its keys, and skips S and P V (the mask below still gives its
    // rows -inf, so P = 0).
    const bool warp_idle = BM == 128 && a.causal && i0 + RM * ((tr & ~1) + 2) - 1 + diag < j0;
    // S (log2 domain) for this thread's RM x 4 block.
    float s[RM][4] = {};
#pragma unroll Tr::kSUnroll
    for (int x = 0; x < (warp_idle ? 0 : D); ++x) {
      float qv[RM];
      load_row_block(qv, q_t + x * kQStride + RM * tr);
      const float4 kb = *reinterpret_cast<const float4*>(k_t + x * kKStride + key0);
      const float kvv[4] = {kb.x, kb.y, kb.z, kb.w};
#pragma unroll
      for (int i = 0; i < RM; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) s[i][j] = fmaf(qv[i], kvv[j], s[i][j]);
    }

    // Online softmax per row: key j0 + key0 + j is kept when key0 + j <= last (a 32-bit bound per row).
    // SparseKeys: a partial block's bytes (0 past seq_k; one 4-byte load a row), a full block's
    // seq_k bound where it crosses it.
    if constexpr (Keys::kBlockMask) {
      if (kind >= 0) {
        const std::uint8_t* bytes = mrow.bytes(kind, static_cast<int>(j0 / BN)) + key0;
        unsigned quads[RM];
#pragma unroll
        for (int i = 0; i < RM; ++i) quads[i] = mask_quad(bytes + (RM * tr + i) * mrow.block);
#pragma unroll
        for (int i = 0; i < RM; ++i)
#pragma unroll
          for (int j = 0; j < 4; ++j)
            if (!((quads[i] >> (8 * j)) & 0xffu)) s[i][j] = -INFINITY;
      }
    }
    const bool needs_mask = (!Keys::kBlockMask || kind < 0) && blk.needs_mask(a, j0, BN);
#pragma unroll
    for (int i = 0; i < RM; ++i) {
      if (needs_mask) {
        const int lane_last = lane_key_limit(i0 + RM * tr + i, j0, a.seq_k, a.causal, diag, BN, key0);
#pragma unroll
        for (int j = 0; j < 4; ++j)
          if (j > lane_last) s[i][j] = -INFINITY;
      }
      float m_tile = fmaxf(fmaxf(s[i][0], s[i][1]), fmaxf(s[i][2], s[i][3]));
      m_tile = lane_group_reduce<kRowLanes>(m_tile, MaxOp{});
      const float m_new = fmaxf(m_run[i], m_tile);
      const float m_use = m_new == -INFINITY ? 0.0f : m_new;  // a row with no key yet: exp2(-inf) = 0
      const float rescale = exp2f(m_run[i] - m_use);
      m_run[i] = m_new;
      float sum = 0.0f;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        s[i][j] = exp2f(s[i][j] - m_use);
        sum += s[i][j];
      }
      l_run[i] = l_run[i] * rescale + sum;
#pragma unroll
      for (int d = 0; d < kGroups * kVec; ++d) o[i][d] *= rescale;
    }
    if constexpr (Tr::kPInK) __syncthreads();  // every thread is done reading K^T
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int h = 0; h < RM / 4; ++h)
        *reinterpret_cast<float4*>(p_t + (key0 + j) * kQStride + RM * tr + 4 * h) =
            make_float4(s[4 * h][j], s[4 * h + 1][j], s[4 * h + 2][j], s[4 * h + 3][j]);
    if constexpr (Tr::kPrefetch) cp_async_wait<0>();  // V_j, asked for a tile ago
    __syncthreads();  // P^T and V_j are in shared memory; every thread is done reading K^T_j
    // kPrefetch: the next K tile's loads fly during P V.
    if constexpr (Tr::kPrefetch)
      if (more) {
        if constexpr (Keys::kSkip) {
          Tile::fetch(staged, k + next_j0 * D, a.seq_k - next_j0);
        } else {
          Tile::fetch(staged, k + (j0 + BN) * D, a.seq_k - j0 - BN);
        }
      }

    // O += P V for rows RM tr.. and dims kVec tc + 64 g.
#pragma unroll Tr::kPvUnroll
    for (int c = 0; c < (warp_idle ? 0 : BN); ++c) {
      float pv[RM];
      load_row_block(pv, p_t + c * kQStride + RM * tr);
#pragma unroll
      for (int g = 0; g < kGroups; ++g) {
        float vv[4];
        if constexpr (kVec == 4) {
          const float4 vb = *reinterpret_cast<const float4*>(v_s + c * D + dim0(g));
          vv[0] = vb.x, vv[1] = vb.y, vv[2] = vb.z, vv[3] = vb.w;
        } else {
          const float2 vb = *reinterpret_cast<const float2*>(v_s + c * D + dim0(g));
          vv[0] = vb.x, vv[1] = vb.y;
        }
#pragma unroll
        for (int i = 0; i < RM; ++i)
#pragma unroll
          for (int d = 0; d < kVec; ++d) o[i][g * kVec + d] = fmaf(pv[i], vv[d], o[i][g * kVec + d]);
      }
    }
    if constexpr (Tr::kPrefetch) {
      if (more) {
        Tile::store(k_t, staged, 1.0f);  // K^T_j's readers passed the barrier above
        __syncthreads();  // K^T_{j+1} is in shared memory; every thread is done with P^T and V_j
        fetch_v(Keys::kSkip ? next_j0 : j0 + BN);
      }
    }
  }

  float* out = static_cast<float*>(a.o) + (bh * a.seq_q + i0) * D;
#pragma unroll
  for (int i = 0; i < RM; ++i) {
    float l = l_run[i];
    l = lane_group_reduce<kRowLanes>(l, SumOp{});
    const int r = RM * tr + i;
    if (i0 + r >= a.seq_q) continue;
    const float inv_l = l > 0.0f ? 1.0f / l : 0.0f;  // a row that sees no key: O = 0
#pragma unroll
    for (int g = 0; g < kGroups; ++g)
#pragma unroll
      for (int d = 0; d < kVec; ++d) out[r * D + dim0(g) + d] = o[i][g * kVec + d] * inv_l;
    if (tc == 0) a.lse[bh * a.seq_q + i0 + r] = l > 0.0f ? (m_run[i] + log2f(l)) * 0.6931471805599453f : -INFINITY;
  }
}

}  // namespace

}  // namespace fabench

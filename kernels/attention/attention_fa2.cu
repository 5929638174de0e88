// attn.fa2: FlashAttention-2 Algorithm 1 (Dao 2023, section 3.1) in fp32 on CUDA cores.
//
// Against attn.naive: no score matrix in device memory. One block owns BM query rows of one head
// and streams BN-row tiles of K and V through shared memory; each row keeps its running maximum m
// and sum l, the output accumulator is rescaled by exp(m_old - m_new) when the maximum grows, and
// divided by l once at the end (FA2's change against FA1: no per-tile normalisation, the loop over
// K/V inside the block, rows in parallel across blocks). Under causal masking tiles wholly above
// the diagonal are skipped and only tiles crossing it are masked. Memory: inputs and outputs only.
//
// v2, register-blocked as an SGEMM is. v1 gave each thread single S and O entries strided over the
// tile: every FFMA waited on one or two shared-memory loads, the scores went through shared memory
// for a warp-per-row softmax, and it ran 10.5-11.4 TFLOP/s on an H100 (0.23-0.33x PyTorch's fused
// fp32 kernel). Now 256 threads form a 16 x 16 grid over a 64 x 64 tile; thread (tr, tc) owns the
// 4 x 4 block of S at rows 4tr.., keys 4tc.., and O's rows 4tr.. at dims 4tc + 64g (+0..3).
//   - Q and K are stored transposed ([dim][row], rows padded to 68 floats), so one step over a dim
//     is two 16-byte loads (4 rows of Q, 4 keys of K) feeding 16 FFMA; Q is pre-scaled by
//     scale * log2(e), so S is in the exp2 domain.
//   - The online softmax runs in registers: a row's 16 threads are 16 consecutive lanes and reduce
//     its maximum with four shuffles; each thread keeps its share of l until the end.
//   - P goes to shared memory as [key][row] (over K^T, which S no longer needs), so O += P V is
//     again two 16-byte loads (4 rows of P, 4 dims of V) per 16 FFMA.
// Measured (H100, fp32, 16k tokens, seq 2k-16k, TFLOP/s): d64 27.4-29.5, d128 26.0-28.2, d256
// 24.4-27.4, 2.5x v1, 0.84-0.85x PyTorch's efficient kernel at d64 and 0.60-0.62x at d128 (that
// kernel runs fp32 as 3xTF32 on tensor cores, as attn.fa2_mma's fp32 tiles do). With P in its own
// buffer d128 held one block per SM: 22.9-24.9.
// v2.1: the transposing tile loads were rearranged to be free of bank conflicts (Nsight Compute
// had found 14.2-way conflicts on the shared stores at d128) and batch four 16-byte loads: d64
// 28.0-30.1, d128 28.0-30.1 (0.85-0.86x and 0.64-0.66x PyTorch's efficient kernel, same H100).
// v2.2: 4 warps holding 8 query rows a thread (the warps parameter; 8 warps keep 4 rows): a step
// over a dim is three 16-byte loads for 32 FFMA instead of two for 16, and a P V step four for 64
// instead of three for 32. Measured (H100, fp32, 16k tokens, seq 2k-16k, TFLOP/s, 8 -> 4 warps):
// d64 29.7-30.0 -> 33.0-33.6 (causal 27.8-29.1 -> 30.6-32.6), d128 29.5-29.8 -> 32.6-33.6 (causal
// 27.6-30.1 -> 31.0-33.9): the default at d64 (at d128 until v2.4). At d256 (231 registers, one
// block of 4 warps an SM) 4 warps lost, 28.0-28.4 -> 23.9-24.9: 8 warps stay its default.
// v2.3, d256 (Fa2Traits::kPrefetch): the next K tile is loaded into registers during P V and
// V arrives by cp.async during S, so a block alone on its SM no longer waits for its tiles: d256
// 28.0-28.3 -> 31.1-31.4 TFLOP/s (causal 27.0-29.8 -> 29.1-32.3), H100. At d128 the 64 staging
// registers took the 4-warp kernel to 255 registers with spills (32.3-33.9 -> 27.9-29.3) and the
// 8-warp one to one block per SM; d64 fell 7%.
// v2.4, d128: blocks of 128 query rows over 8 warps (8 rows a thread, 253 registers), one block
// per SM, prefetching as v2.3: each K/V tile serves twice the rows. 64 -> 128 rows (H100, TFLOP/s):
// 33.2-33.5 -> 36.6-37.2, causal 31.0-33.8 -> 32.8-37.7. At d64 128 rows lost 1-4%.
// v2.5, prefetching blocks: P^T in its own buffer, so the next K^T is stored while P V reads P^T:
// two barriers a tile instead of four. d128 +3.4%, d256 +1.6% (H100 A/B, two passes each).
// v2.6, causal 128-row blocks: a warp whose rows all end before a tile skips that tile's S and
// P V (in a block's last tile, half the warps), leaving the SM's issue slots to the warps that
// still work: d128 causal seq 2048 +1.7%, other d128 points within 0.5% (H100 A/B, one pass). In
// every block (d256's 64-row ones too) the branch cost d256 1%, causal or not: 128 rows only.
// Launch order (attention_order.h, kernel unchanged): causal blocks with the last heads
// interleaved, +1-6% causal at d128 and d256 (most at seq 2048-4096; H100 A/B, two passes): d128
// causal 0.79-0.83x -> 0.84-0.85x PyTorch's efficient backend in fp32.
// v2.7, lane pairs: a 16-byte shared load returns 128 bytes a cycle, so a warp's takes 4 wavefronts
// unless lanes n and n ^ 1 (or n ^ 2) load the same address, then 2. With tc = lane % 16, Q^T and
// P^T loads (one row group a half-warp) took 2 and K^T and V loads 4, 1.51e9 wavefronts at d256
// seq 2048, L1 80% busy (Nsight Compute). Lane bit 1 now picks the row group and bits 0, 2-4 the
// column thread: every load takes 2, 0.96e9 wavefronts, L1 58% busy. (Tried and dropped: giving a
// half-warp 8 column threads of two row groups, still 4 wavefronts; loading S's and P V's operands
// a dim or key ahead by hand, 2-7% slower.) With each kernel's unroll (Fa2Traits), H100 A/B, two
// passes, TFLOP/s at seq 2048 / 8192: d64 32.4 -> 35.4 / 32.9 -> 35.9, d128 37.7 -> 39.3 /
// 38.3 -> 39.9, d256 31.3 -> 33.6 / 31.7 -> 34.1 (causal alike).
// Measured figures live in results/README.md beside the command that produced them.
#include "kernels/attention/attention.h"
#include "kernels/attention/attention_block.cuh"
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

template <int BM, int BN, int D, int RM>
__global__ void __launch_bounds__(Fa2Traits<BM, D, RM>::kThreads) attention_fa2_kernel(AttentionArgs a, AttentionSchedule sched) {
  static_assert(BN == kTile, "64-key tiles");
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

  if constexpr (Tr::kPrefetch) {
    if (key_end > 0) {
      load_transposed<kTile, D, kThreads, kKStride, Tr::kLoadBatch>(k_t, k, a.seq_k, 1.0f);
      fetch_v(0);
    }
    __syncthreads();  // K^T_0 is in shared memory
  }
  for (std::int64_t j0 = 0; j0 < key_end; j0 += BN) {
    const bool more = j0 + BN < key_end;
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
    const bool needs_mask = blk.needs_mask(a, j0, BN);
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
      if (more) Tile::fetch(staged, k + (j0 + BN) * D, a.seq_k - j0 - BN);

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
        fetch_v(j0 + BN);
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

template <int BM, int BN, int D, int RM>
bool launch_fa2(const AttentionArgs& a, cudaStream_t stream) {
  using Tr = Fa2Traits<BM, D, RM>;
  auto kernel = attention_fa2_kernel<BM, BN, D, RM>;
  if (Tr::kSmemBytes > 48 * 1024 &&
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(Tr::kSmemBytes)) !=
          cudaSuccess)
    return false;
  static const AttentionResidency residency = attention_residency(kernel, Tr::kThreads, Tr::kSmemBytes);
  const AttentionSchedule sched = attention_schedule(a, BM, residency, false);
  kernel<<<sched.grid, Tr::kThreads, Tr::kSmemBytes, stream>>>(a, sched);
  return true;
}

// The compiled configurations: (head_dim, block_m, block_n, rows per thread); 64-key tiles, 64
// query rows over 8 warps (4 rows a thread) or 4 warps (8 rows), 128 rows over 8 warps (8 rows).
// The first of a head dim is its default. (Not kept: d128 with 64 rows over 8 warps, v2.1's tile,
// 10% behind 4 warps; d64 with 128 rows, 1-4% behind 64 rows.)
#define FA_FA2_CONFIGS(X) \
  X(32, 64, 64, 4)        \
  X(64, 64, 64, 8)        \
  X(64, 64, 64, 4)        \
  X(128, 128, 64, 8)      \
  X(128, 64, 64, 8)       \
  X(256, 64, 64, 4)

}  // namespace

std::vector<AttentionTile> attention_fa2_configs() {
  std::vector<AttentionTile> out;
#define FA_LIST(D, BM, BN, RM) \
  out.push_back({D, BM, BN, Fa2Traits<BM, D, RM>::kSmemBytes, Fa2Traits<BM, D, RM>::kThreads / 32});
  FA_FA2_CONFIGS(FA_LIST)
#undef FA_LIST
  return out;
}

bool attention_fa2(const AttentionArgs& a, const AttentionTile& tile, cudaStream_t stream) {
#define FA_DISPATCH(D, BM, BN, RM)                                               \
  if (a.head_dim == D && tile.block_m == BM && tile.block_n == BN &&             \
      tile.warps == Fa2Traits<BM, D, RM>::kThreads / 32)                          \
    return launch_fa2<BM, BN, D, RM>(a, stream);
  FA_FA2_CONFIGS(FA_DISPATCH)
#undef FA_DISPATCH
  return false;
}

}  // namespace fabench

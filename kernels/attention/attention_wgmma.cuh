#pragma once
// attn.wgmma's kernel (the history of its versions heads attention_wgmma.cu): FlashAttention-2's
// algorithm on Hopper's warpgroup MMA, its traits, tile loads, GEMM issues and softmax. The key
// loop takes a policy (attention_keys.cuh): DenseKeys is attention's (attention_wgmma.cu, compiled
// as it was before the policy); SparseKeys runs block masks (attention_sparse_wgmma.cu).
#include "kernels/attention/attention.h"
#include "kernels/attention/attention_block.cuh"
#include "kernels/attention/attention_keys.cuh"
#include "kernels/common/mma.cuh"
#include "kernels/common/wgmma.cuh"
#include "kernels/common/wgmma_tiles.cuh"

namespace fabench {

namespace {

// T: the 16-bit element; D: head dim; BN: keys per tile; WGS: warpgroups (64 query rows each).
template <class T, int D, int BN, int WGS>
struct WgTraits {
  static constexpr int kThreads = 128 * WGS;
  static constexpr int kBM = 64 * WGS;
  static constexpr int kChunks = D / 8;                   // 16-byte chunks per row
  static constexpr std::uint32_t kQBytes = kBM * D * 2;
  static constexpr std::uint32_t kTileBytes = BN * D * 2;  // one K or V buffer
  static constexpr int kD = D;
  static constexpr int kN = WgOutSplit<D>::kN;             // N of one P V instruction (at most 128)
  static constexpr int kNb = WgOutSplit<D>::kNb;           // P V instructions per k16 step
  // Q, then K and V with two buffers each, plus slack to align the base to 1024 bytes.
  static constexpr std::size_t kSmemBytes = kQBytes + 4 * kTileBytes + 1024;
  static_assert(sizeof(T) == 2, "wgmma with register A: fp16 or bf16");
  static_assert(D % 64 == 0 && (BN == 64 || BN == 128), "whole 128-byte column blocks; N of S is 64 or 128");
};

// ROWS rows of Q, K or V into a swizzled tile by the block's threads (wgmma_tiles.cuh).
template <class Tr, int ROWS, class T>
__device__ __forceinline__ void wg_load_tile(std::uint32_t dst, const T* src, std::int64_t rows_left) {
  wg_load_rows<ROWS, Tr::kChunks, Tr::kThreads>(dst, src, rows_left);
}

// S = Q K^T for one K tile, issued and committed (not waited for).
template <class Tr, class T, int D, int BN>
__device__ __forceinline__ void issue_scores(float (&s)[BN / 2], std::uint32_t q_wg, std::uint32_t k_tile) {
  wgmma_kmajor_gemm<T, D, BN, Tr::kBM, BN>(s, q_wg, k_tile);
}

// O += P V for one V tile, issued and committed.
template <class Tr, class T, int BN>
__device__ __forceinline__ void issue_pv(float (&o)[Tr::kNb][Tr::kN / 2], std::uint32_t (&p)[BN / 16][4],
                                         std::uint32_t v_tile) {
  wgmma_rs_gemm<T, Tr::kD, BN>(o, p, v_tile);
}

// Where a lane's scores sit: rows `row` and row + 8 of the sequence, keys j0 + 8 nt + 2t (+1).
struct TileRows {
  std::int64_t row, j0, seq_k, diag;
  bool causal;
  int t;
};

// The online softmax on one tile of scores (base 2): masks what needs it, updates the running max
// and the lane's row sums, turns s into P, and returns the factor O must be rescaled by per row half.
template <int BN>
__device__ __forceinline__ void softmax_tile(float (&s)[BN / 2], const TileRows& at, bool needs_mask,
                                             float scale_log2, float (&row_max)[2], float (&row_sum)[2],
                                             float (&rescale)[2]) {
#pragma unroll
  for (int rh = 0; rh < 2; ++rh) {
    if (needs_mask) {
      // (The 32-bit mask measured: d128 317 -> 334 TFLOP/s, d64 2 x 128 236 -> 254, causal seq
      // 2048 on an H100, together with the write-only first k-step of S.)
      const int lane_last = lane_key_limit(at.row + 8 * rh, at.j0, at.seq_k, at.causal, at.diag, BN, 2 * at.t);
#pragma unroll
      for (int nt = 0; nt < BN / 8; ++nt)
#pragma unroll
        for (int e = 0; e < 2; ++e)
          if (nt * 8 + e > lane_last) s[4 * nt + 2 * rh + e] = -INFINITY;
    }
    float m_new = row_max[rh];
#pragma unroll
    for (int nt = 0; nt < BN / 8; ++nt) m_new = fmaxf(m_new, fmaxf(s[4 * nt + 2 * rh], s[4 * nt + 2 * rh + 1]));
    m_new = fmaxf(m_new, __shfl_xor_sync(0xffffffffu, m_new, 1));
    m_new = fmaxf(m_new, __shfl_xor_sync(0xffffffffu, m_new, 2));
    // A row that has seen only masked keys keeps max -inf; subtracting 0 then gives exp2(-inf) = 0.
    const float m_scaled = m_new == -INFINITY ? 0.0f : m_new * scale_log2;
    rescale[rh] = fast_exp2(row_max[rh] * scale_log2 - m_scaled);
    row_max[rh] = m_new;
    float tile_sum = 0.0f;
#pragma unroll
    for (int nt = 0; nt < BN / 8; ++nt)
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const float p = fast_exp2(fmaf(s[4 * nt + 2 * rh + e], scale_log2, -m_scaled));
        s[4 * nt + 2 * rh + e] = p;
        tile_sum += p;
      }
    row_sum[rh] = row_sum[rh] * rescale[rh] + tile_sum;
  }
}

template <class Tr>
__device__ __forceinline__ void rescale_output(float (&o)[Tr::kNb][Tr::kN / 2], const float (&rescale)[2]) {
#pragma unroll
  for (int nb = 0; nb < Tr::kNb; ++nb)
#pragma unroll
    for (int dt = 0; dt < Tr::kN / 8; ++dt)
#pragma unroll
      for (int x = 0; x < 4; ++x) o[nb][4 * dt + x] *= rescale[x / 2];
}

// The overlapped loops' end of step j (attn.wgmma's, attention_wgmma_ws.cuh's), after the wait for
// its P V: O's registers are that wgmma's results and P's its operands until here (the pins keep
// the compiler from moving their next uses above the wait).
template <class Tr, int BN>
__device__ __forceinline__ void pin_pv(float (&o)[Tr::kNb][Tr::kN / 2], std::uint32_t (&p)[BN / 16][4]) {
#pragma unroll
  for (int nb = 0; nb < Tr::kNb; ++nb) wgmma_pin(o[nb]);
#pragma unroll
  for (int kk = 0; kk < BN / 16; ++kk) wgmma_pin(p[kk]);
}
// Then, with a step j + 1: O takes that step's rescale and P becomes its P.
template <class Tr, int BN>
__device__ __forceinline__ void advance_pv(float (&o)[Tr::kNb][Tr::kN / 2], const float (&rescale)[2],
                                           std::uint32_t (&p)[BN / 16][4], const std::uint32_t (&p_next)[BN / 16][4]) {
  rescale_output<Tr>(o, rescale);
#pragma unroll
  for (int kk = 0; kk < BN / 16; ++kk)
#pragma unroll
    for (int x = 0; x < 4; ++x) p[kk][x] = p_next[kk][x];
}

// P as k16 A fragments: keys 16 kk..16 kk + 15 are the n8 blocks 2 kk and 2 kk + 1 of S.
template <class T, int BN>
__device__ __forceinline__ void pack_p(std::uint32_t (&p)[BN / 16][4], const float (&s)[BN / 2]) {
  pack_accumulator<T, BN>(p, s);
}

// OVERLAP: FlashAttention-3's intra-warpgroup pipelining. S_{j+1} = Q K_{j+1}^T and O += P_j V_j are
// issued back to back, and the softmax of S_{j+1} runs on the CUDA cores while P_j V_j is still on
// the tensor cores; O is rescaled once P_j V_j is done. Costs a second set of P registers.
// Without it each tile runs S, softmax, P V in turn and the tensor cores wait during the softmax.
// SparseKeys: a partial block's bytes for one step, staged in shared memory with the step's K (two
// buffers, one a step): BM rows of BN bytes, rows kMaskRow bytes apart. The padding puts the rows
// a warp reads (g = 0..7, BN + 16 bytes apart) in different banks.
template <int BM, int BN>
struct MaskStage {
  static constexpr int kMaskRow = BN + 16;
  static constexpr std::uint32_t kBytes = BM * kMaskRow;
};

// Copies the BM x BN bytes of a partial block at `src` (rows `block` bytes apart) into `dst`.
template <int BM, int BN, int THREADS>
__device__ __forceinline__ void stage_mask_tile(std::uint32_t dst, const std::uint8_t* src, int block) {
  constexpr int kChunks = BN / 16;
#pragma unroll
  for (int e = static_cast<int>(threadIdx.x); e < BM * kChunks; e += THREADS) {
    const int r = e / kChunks, c = e % kChunks;
    cp_async_16(dst + r * MaskStage<BM, BN>::kMaskRow + c * 16, src + static_cast<std::size_t>(r) * block + c * 16, true);
  }
}

// A partial block's bytes (staged by stage_mask_tile at `tile`) on one tile of scores in wgmma's
// accumulator layout: the lane's rows are first_row (+8) of the query tile, its keys 8 nt +
// first_key (+1). (Read from global memory behind S, a partial step waited on two round trips:
// window, document and global masks ran at 0.86-0.95x FlexAttention, H200 at 4e376cd.)
template <int BM, int BN>
__device__ __forceinline__ void apply_partial_tile(float (&s)[BN / 2], const unsigned char* tile, int first_row,
                                                   int first_key) {
#pragma unroll
  for (int rh = 0; rh < 2; ++rh) {
    const unsigned char* row = tile + (first_row + 8 * rh) * MaskStage<BM, BN>::kMaskRow + first_key;
#pragma unroll
    for (int nt = 0; nt < BN / 8; ++nt) {
      const unsigned pair = *reinterpret_cast<const unsigned short*>(row + nt * 8);
      if (!(pair & 0xffu)) s[4 * nt + 2 * rh] = -INFINITY;
      if (!(pair & 0xff00u)) s[4 * nt + 2 * rh + 1] = -INFINITY;
    }
  }
}

// O / l and the log-sum-exp of a lane's two rows (lane_row, + 8); a row that saw no key gets O = 0
// and lse = -inf. The accumulator gives a lane two columns of each 8-column block; lanes t and
// t ^ 1 swap one block of each pair first (one shuffle), so that each stores 8 bytes, four
// consecutive columns: a warp's store writes a whole 32-byte sector of each of its 8 rows, half
// the stores (and the sectors touched) of 4-byte stores. Measured on an H200
// (results/h200/ws_epilogue_exp_beb811bf6d25: the experiment beb811b against the 4-byte stores in
// one run): attn.wgmma bf16 d128 at 16k tokens 1.05 / 1.09x at seq 1024 (non-causal / causal),
// 1.03 / 1.05x at 2048, 1.02 / 1.03x at 4096, 1.00 / 1.01x at 16384 (d64 1.03 / 1.05x down to
// 1.00x); sparse.wgmma v3 1.05x at seq 8k density 0.1, where the tile's 2 us epilogue was a tenth
// of its time.
template <class T, class Tr>
__device__ __forceinline__ void store_output(const AttentionArgs& a, const float (&o)[Tr::kNb][Tr::kN / 2],
                                             const float (&row_sum)[2], const float (&row_max)[2], std::int64_t bh,
                                             std::int64_t lane_row, int t) {
  const bool odd = t & 1;
#pragma unroll
  for (int rh = 0; rh < 2; ++rh) {
    float l = row_sum[rh];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    const std::int64_t row = lane_row + 8 * rh;
    const bool inside = row < a.seq_q;  // the same for a lane pair (one row), so their shuffles meet
    const float inv_l = l > 0.0f ? __frcp_rn(l) : 0.0f;  // 1 / l as IEEE division rounds it, without its slow path
    T* out = static_cast<T*>(a.o) + (bh * a.seq_q + (inside ? row : 0)) * Tr::kD;
#pragma unroll
    for (int nb = 0; nb < Tr::kNb; ++nb)
#pragma unroll
      for (int pr = 0; pr < Tr::kN / 16; ++pr) {
        const int b0 = 2 * pr, b1 = 2 * pr + 1;  // the pair of 8-column blocks
        const std::uint32_t x0 = pack2<T>(o[nb][4 * b0 + 2 * rh] * inv_l, o[nb][4 * b0 + 2 * rh + 1] * inv_l);
        const std::uint32_t x1 = pack2<T>(o[nb][4 * b1 + 2 * rh] * inv_l, o[nb][4 * b1 + 2 * rh + 1] * inv_l);
        // An even lane keeps block b0 (its columns 2t, 2t + 1, then its partner's), an odd lane b1.
        const std::uint32_t got = __shfl_xor_sync(0xffffffffu, odd ? x0 : x1, 1);
        const int col = nb * Tr::kN + (odd ? 8 * b1 + 2 * (t - 1) : 8 * b0 + 2 * t);
        if (inside) *reinterpret_cast<uint2*>(out + col) = odd ? make_uint2(got, x1) : make_uint2(x0, got);
      }
    // The hardware log (two instructions where logf is a software routine): CUDA's tables give it
    // an absolute error of 2^-21.4 for l <= 2 and 3 ulp above; l >= 1 here (the row's maximum
    // contributes exp2(0)).
    if (inside && t == 0) a.lse[bh * a.seq_q + row] = l > 0.0f ? row_max[rh] * a.scale + __logf(l) : -INFINITY;
  }
}

// Keys: the key loop's policy (attention_keys.cuh; block masks: SparseKeys without OVERLAP);
// mask: its block mask (empty for DenseKeys).
template <class T, int D, int BN, int WGS, bool OVERLAP, class Keys = DenseKeys>
__global__ void __launch_bounds__(WGS * 128, 1)
    attention_wgmma_kernel(AttentionArgs a, AttentionSchedule sched, typename Keys::Args mask) {
  static_assert(!Keys::kBlockMask || (Keys::kSkip && !OVERLAP), "block masks: SparseKeys, one tile in flight");
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using Tr = WgTraits<T, D, BN, WGS>;
  constexpr int kBM = Tr::kBM, kN = Tr::kN, kNb = Tr::kNb;
  extern __shared__ unsigned char smem_raw[];
  const std::uint32_t q_s = (smem_address(smem_raw) + 1023u) & ~1023u;
  const std::uint32_t k_s = q_s + Tr::kQBytes;          // two K buffers
  const std::uint32_t v_s = k_s + 2 * Tr::kTileBytes;   // two V buffers
  [[maybe_unused]] const std::uint32_t m_s = v_s + 2 * Tr::kTileBytes;  // SparseKeys: two mask stages

  const int wg = static_cast<int>(threadIdx.x) / 128, warp = (static_cast<int>(threadIdx.x) / 32) % 4;
  const int lane = static_cast<int>(threadIdx.x) % 32, g = lane >> 2, t = lane & 3;
  const AttentionBlock<T, D> blk(a, sched, kBM);
  const std::int64_t bh = blk.bh, i0 = blk.i0, diag = blk.diag;
  const T *q = blk.q, *k = blk.k, *v = blk.v;
  const int n_tiles = blk.tiles(BN);
  const float scale_log2 = a.scale * 1.4426950408889634f;
  const std::int64_t lane_row = i0 + 64 * wg + 16 * warp + g;  // this lane's rows: +0 and +8
  auto rows_of = [&](int tile) {
    return TileRows{lane_row, static_cast<std::int64_t>(tile) * BN, a.seq_k, diag, a.causal, t};
  };
  auto needs_mask = [&](int tile) { return blk.needs_mask(a, static_cast<std::int64_t>(tile) * BN, BN); };

  // Tile j's K and V go to buffer j % 2, one commit group each (empty past the end, so the
  // counts the waits rely on stay fixed): Q with K_0, then V_0, K_1, V_1 before the loop.
  auto load_kv = [&](int tile, bool key) {
    const std::int64_t r0 = static_cast<std::int64_t>(tile) * BN;
    const std::uint32_t buf = (key ? k_s : v_s) + (tile % 2) * Tr::kTileBytes;
    if (tile < n_tiles) wg_load_tile<Tr, BN>(buf, (key ? k : v) + r0 * D, a.seq_k - r0);
    cp_async_commit();
  };
  auto k_tile = [&](int tile) { return k_s + (tile % 2) * Tr::kTileBytes; };
  auto v_tile = [&](int tile) { return v_s + (tile % 2) * Tr::kTileBytes; };
  // SparseKeys: step j of the loop is the list's key tile kt (attention_keys.cuh); its K and V go
  // to buffer j % 2 as tile j's do above. The key tiles of steps j + 1 and j + 2 are held in
  // registers (kt_next, and kt_ahead read at the top of step j), so no load waits on the list.
  const MaskRowOf<Keys, BN> mrow(mask, bh, i0);
  const int n_steps = Keys::kSkip ? mrow.steps() : n_tiles;
  // A key tile wholly past seq_k (the last block's second half when block_n < block) is loaded as
  // zeros from the head's first row, so no address past the tensor is formed and its buffer holds
  // no stale values (its scores are masked; P = 0 must not meet a NaN in V).
  // Whole tiles (all but the last of a sequence) are copied without row bounds; a partial step's
  // bytes join its K group.
  auto load_kv_step = [&](int step, int kt, int kind, bool key) {
    const std::int64_t r0 = static_cast<std::int64_t>(kt) * BN;
    const std::uint32_t buf = (key ? k_s : v_s) + (step % 2) * Tr::kTileBytes;
    const bool past = r0 >= a.seq_k;
    if (step < n_steps) {
      if constexpr (wg_whole_rows_fit<BN, Tr::kChunks, Tr::kThreads>()) {
        if (r0 + BN <= a.seq_k) {
          wg_load_whole_rows<BN, Tr::kChunks, Tr::kThreads>(buf, (key ? k : v) + r0 * D);
        } else {
          wg_load_tile<Tr, BN>(buf, (key ? k : v) + (past ? 0 : r0 * D), past ? 0 : a.seq_k - r0);
        }
      } else {
        wg_load_tile<Tr, BN>(buf, (key ? k : v) + (past ? 0 : r0 * D), past ? 0 : a.seq_k - r0);
      }
      if (key && kind >= 0)
        stage_mask_tile<kBM, BN, Tr::kThreads>(m_s + (step % 2) * MaskStage<kBM, BN>::kBytes, mrow.bytes(kind, kt),
                                               mrow.block);
    }
    cp_async_commit();
  };
  [[maybe_unused]] int kt = 0, kt_next = 0, kind = kKeysFull, kind_next = kKeysFull;
  wg_load_tile<Tr, kBM>(q_s, q, a.seq_q - i0);
  if constexpr (Keys::kSkip) {
    kt = n_steps > 0 ? mrow.key_tile(0) : 0;
    kind = n_steps > 0 ? mrow.kind(0) : kKeysFull;
    kt_next = n_steps > 1 ? mrow.key_tile(1) : 0;
    kind_next = n_steps > 1 ? mrow.kind(1) : kKeysFull;
    load_kv_step(0, kt, kind, true);
    load_kv_step(0, kt, kind, false);
    load_kv_step(1, kt_next, kind_next, true);
    load_kv_step(1, kt_next, kind_next, false);
  } else {
    load_kv(0, true);
    load_kv(0, false);
    load_kv(1, true);
    load_kv(1, false);
  }

  float o[kNb][kN / 2] = {};
  float s[BN / 2] = {};
  float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.0f, 0.0f};  // row_sum per lane until the end
  float rescale[2];
  std::uint32_t p[BN / 16][4];
  const std::uint32_t q_wg = q_s + wg * 64 * 128;  // this warpgroup's 64 rows of Q in each column block

  if constexpr (OVERLAP) {
    if (n_tiles > 0) {
      cp_async_wait<3>();  // Q and K_0 landed
      fence_proxy_async();
      __syncthreads();
      issue_scores<Tr, T, D, BN>(s, q_wg, k_tile(0));
      wgmma_wait<0>();
      wgmma_pin(s);
      softmax_tile<BN>(s, rows_of(0), needs_mask(0), scale_log2, row_max, row_sum, rescale);  // O is still 0
      pack_p<T, BN>(p, s);
    }
    for (int j = 0; j < n_tiles; ++j) {
      const bool more = j + 1 < n_tiles;
      cp_async_wait<1>();  // V_j and K_{j+1} landed; V_{j+1} may be in flight
      fence_proxy_async();
      __syncthreads();
      // Issued on the last tile too (reading a stale K buffer; those scores are dropped): with the
      // issue under a branch ptxas cannot count the groups and serializes every wgmma (C7514).
      issue_scores<Tr, T, D, BN>(s, q_wg, k_tile(j + 1));
      issue_pv<Tr, T, BN>(o, p, v_tile(j));
      std::uint32_t p_next[BN / 16][4];
      wgmma_wait<1>();  // S_{j+1} done; P_j V_j may still run
      wgmma_pin(s);
      if (more) {
        softmax_tile<BN>(s, rows_of(j + 1), needs_mask(j + 1), scale_log2, row_max, row_sum, rescale);
        pack_p<T, BN>(p_next, s);
      }
      wgmma_wait<0>();
      pin_pv<Tr, BN>(o, p);
      if (more) advance_pv<Tr, BN>(o, rescale, p, p_next);
      __syncthreads();  // every warpgroup is done with K_j's and V_j's buffer
      load_kv(j + 2, true);
      load_kv(j + 2, false);
    }
  } else {
    for (int j = 0; j < n_steps; ++j) {
      // SparseKeys: step j + 2's key tile and kind, read before S hides them.
      int kt_ahead = 0, kind_ahead = kKeysFull;
      if constexpr (Keys::kSkip) {
        kt_ahead = j + 2 < n_steps ? mrow.key_tile(j + 2) : 0;
        kind_ahead = j + 2 < n_steps ? mrow.kind(j + 2) : kKeysFull;
      }
      cp_async_wait<3>();  // K_j (and Q) landed; V_j, K_{j+1}, V_{j+1} may be in flight
      fence_proxy_async();
      __syncthreads();
      issue_scores<Tr, T, D, BN>(s, q_wg, k_tile(j));
      wgmma_wait<0>();
      wgmma_pin(s);
      if constexpr (Keys::kSkip) {
        // Full blocks: the seq_k bound only where the tile crosses it; partial: the bytes, which
        // are 0 past seq_k.
        if (kind >= 0)
          apply_partial_tile<kBM, BN>(s, smem_raw + (m_s - smem_address(smem_raw)) + (j % 2) * MaskStage<kBM, BN>::kBytes,
                                      64 * wg + 16 * warp + g, 2 * t);
        softmax_tile<BN>(s, rows_of(kt), kind < 0 && needs_mask(kt), scale_log2, row_max, row_sum, rescale);
      } else {
        softmax_tile<BN>(s, rows_of(j), needs_mask(j), scale_log2, row_max, row_sum, rescale);
      }
      rescale_output<Tr>(o, rescale);
      pack_p<T, BN>(p, s);
      cp_async_wait<2>();  // V_j landed
      fence_proxy_async();
      __syncthreads();
      issue_pv<Tr, T, BN>(o, p, v_tile(j));
      wgmma_wait<0>();
#pragma unroll
      for (int nb = 0; nb < kNb; ++nb) wgmma_pin(o[nb]);
      __syncthreads();  // every warpgroup is done with buffer j % 2
      if constexpr (Keys::kSkip) {
        load_kv_step(j + 2, kt_ahead, kind_ahead, true);
        load_kv_step(j + 2, kt_ahead, kind_ahead, false);
        kt = kt_next, kind = kind_next;
        kt_next = kt_ahead, kind_next = kind_ahead;
      } else {
        load_kv(j + 2, true);
        load_kv(j + 2, false);
      }
    }
  }
  cp_async_wait<0>();

  store_output<T, Tr>(a, o, row_sum, row_max, bh, lane_row, t);
#endif  // sm_90a: elsewhere the kernel is empty and attention_wgmma refuses to launch it
}

}  // namespace

}  // namespace fabench

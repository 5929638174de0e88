// attn.wgmma: FlashAttention-2's algorithm on Hopper's warpgroup MMA (wgmma, sm_90a), fp16 and bf16.
//
// Against attn.fa2_mma (mma.sync, one warp per 16 query rows): a warpgroup of four warps owns 64
// query rows and computes S = Q K_j^T and O += P V_j with wgmma, whose operands the tensor cores
// read straight from shared memory (no ldmatrix into registers), 64 x BN x 16 per instruction
// instead of 16 x 8 x 16. mma.sync kernels (ours and FlashAttention-2) stop near 360 TFLOP/s on an
// H100/H200; wgmma is the instruction that can go further.
//   - Shared memory holds Q, K and V in the 128-byte swizzle the descriptors name (wgmma.cuh):
//     column blocks of 64 elements, chunk c of row r at c ^ (r mod 8). K tiles are K-major B for
//     S; the same V layout is an N-major B for P V, so neither is transposed on the way in.
//   - Q and the K/V tiles arrive by cp.async, 16 bytes a thread, zero-filled past the sequence end;
//     K and V have two buffers each, so tile j + 1 loads while tile j is computed. Each thread
//     fences the async proxy after its copies land, before the barrier that publishes them.
//   - P never leaves registers: the S accumulator of two n8 blocks, packed to 16 bits, is the
//     k16 A fragment of the register-A form of wgmma (the same identity attn.fa2_mma uses).
//   - Online softmax in base 2 on the accumulator (a row's four lanes reduce with two shuffles),
//     causal tiles above the diagonal skipped, only tiles crossing it masked, heaviest blocks first
//     (attention_order.h: the last heads interleaved; causal on an H100 +1-11% at seq 1024-8192,
//     d256 the most, and -2..+4% at 16384), 1 / l applied once at the end; the log-sum-exp per
//     row as a second output.
// Measured figures live in results/README.md beside the command that produced them.
#include "kernels/attention/attention.h"
#include "kernels/attention/attention_block.cuh"
#include "kernels/common/mma.cuh"
#include "kernels/common/wgmma.cuh"

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
  static constexpr int kN = D < 128 ? D : 128;             // N of one P V instruction (at most 128)
  static constexpr int kNb = D / kN;                       // P V instructions per k16 step
  // Q, then K and V with two buffers each, plus slack to align the base to 1024 bytes.
  static constexpr std::size_t kSmemBytes = kQBytes + 4 * kTileBytes + 1024;
  static_assert(sizeof(T) == 2, "wgmma with register A: fp16 or bf16");
  static_assert(D % 64 == 0 && (BN == 64 || BN == 128), "whole 128-byte column blocks; N of S is 64 or 128");
};

// ROWS rows of D elements from `src` into a swizzled tile; rows at or past `rows_left` are zeros.
template <class Tr, int ROWS, class T>
__device__ __forceinline__ void wg_load_tile(std::uint32_t dst, const T* src, std::int64_t rows_left) {
  constexpr int kTotal = ROWS * Tr::kChunks;
  const auto* bytes = reinterpret_cast<const unsigned char*>(src);
#pragma unroll
  for (int i = 0; i < (kTotal + Tr::kThreads - 1) / Tr::kThreads; ++i) {
    const int e = static_cast<int>(threadIdx.x) + i * Tr::kThreads;
    if (kTotal % Tr::kThreads != 0 && e >= kTotal) break;  // three warpgroups: a partial last round
    const int r = e / Tr::kChunks, c = e % Tr::kChunks;
    const bool valid = r < rows_left;
    const unsigned char* from = valid ? bytes + (static_cast<std::size_t>(r) * Tr::kChunks + c) * 16 : bytes;
    cp_async_16(dst + swizzle128_offset<ROWS>(r, c), from, valid);
  }
}

// S = Q K^T for one K tile, issued and committed (not waited for): D / 16 steps of k16, a 32-byte
// step inside each 128-byte row, then the next column block.
template <class Tr, class T, int D, int BN>
__device__ __forceinline__ void issue_scores(float (&s)[BN / 2], std::uint32_t q_wg, std::uint32_t k_tile) {
  wgmma_fence();
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk) {
    const std::uint32_t col = kk / 4, step = (kk % 4) * 32u;
    const std::uint64_t qd = wgmma_desc(q_wg + col * Tr::kBM * 128 + step, 16, 1024);
    const std::uint64_t kd = wgmma_desc(k_tile + col * BN * 128 + step, 16, 1024);
    // The first step overwrites S without reading it: S's registers are free while P V runs.
    if (kk == 0) {
      Wgmma<T, BN, 0>::ss_overwrite(s, qd, kd);
    } else {
      Wgmma<T, BN, 0>::ss(s, qd, kd, 1);
    }
  }
  wgmma_commit();
}

// O += P V for one V tile, issued and committed: BN / 16 steps of 16 keys (2048 bytes of V rows).
template <class Tr, class T, int BN>
__device__ __forceinline__ void issue_pv(float (&o)[Tr::kNb][Tr::kN / 2], std::uint32_t (&p)[BN / 16][4],
                                         std::uint32_t v_tile) {
  wgmma_fence();
#pragma unroll
  for (int nb = 0; nb < Tr::kNb; ++nb) wgmma_pin(o[nb]);
#pragma unroll
  for (int kk = 0; kk < BN / 16; ++kk)
#pragma unroll
    for (int nb = 0; nb < Tr::kNb; ++nb) {
      const std::uint64_t vd = wgmma_desc(v_tile + nb * (Tr::kN / 64) * BN * 128 + kk * 16 * 128, BN * 128, 1024);
      Wgmma<T, Tr::kN, 1>::rs(o[nb], p[kk], vd, 1);
    }
  wgmma_commit();
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

// P as k16 A fragments: keys 16 kk..16 kk + 15 are the n8 blocks 2 kk and 2 kk + 1 of S.
template <class T, int BN>
__device__ __forceinline__ void pack_p(std::uint32_t (&p)[BN / 16][4], const float (&s)[BN / 2]) {
#pragma unroll
  for (int kk = 0; kk < BN / 16; ++kk)
#pragma unroll
    for (int x = 0; x < 4; ++x) p[kk][x] = pack2<T>(s[8 * kk + 2 * x], s[8 * kk + 2 * x + 1]);
}

// OVERLAP: FlashAttention-3's intra-warpgroup pipelining. S_{j+1} = Q K_{j+1}^T and O += P_j V_j are
// issued back to back, and the softmax of S_{j+1} runs on the CUDA cores while P_j V_j is still on
// the tensor cores; O is rescaled once P_j V_j is done. Costs a second set of P registers.
// Without it each tile runs S, softmax, P V in turn and the tensor cores wait during the softmax.
template <class T, int D, int BN, int WGS, bool OVERLAP>
__global__ void __launch_bounds__(WGS * 128, 1) attention_wgmma_kernel(AttentionArgs a, AttentionSchedule sched) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using Tr = WgTraits<T, D, BN, WGS>;
  constexpr int kBM = Tr::kBM, kN = Tr::kN, kNb = Tr::kNb;
  extern __shared__ unsigned char smem_raw[];
  const std::uint32_t q_s = (smem_address(smem_raw) + 1023u) & ~1023u;
  const std::uint32_t k_s = q_s + Tr::kQBytes;          // two K buffers
  const std::uint32_t v_s = k_s + 2 * Tr::kTileBytes;   // two V buffers

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
  wg_load_tile<Tr, kBM>(q_s, q, a.seq_q - i0);
  load_kv(0, true);
  load_kv(0, false);
  load_kv(1, true);
  load_kv(1, false);

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
#pragma unroll
      for (int nb = 0; nb < kNb; ++nb) wgmma_pin(o[nb]);
#pragma unroll
      for (int kk = 0; kk < BN / 16; ++kk) wgmma_pin(p[kk]);  // P_j's registers stay P_j's until here
      if (more) {
        rescale_output<Tr>(o, rescale);
#pragma unroll
        for (int kk = 0; kk < BN / 16; ++kk)
#pragma unroll
          for (int x = 0; x < 4; ++x) p[kk][x] = p_next[kk][x];
      }
      __syncthreads();  // every warpgroup is done with K_j's and V_j's buffer
      load_kv(j + 2, true);
      load_kv(j + 2, false);
    }
  } else {
    for (int j = 0; j < n_tiles; ++j) {
      cp_async_wait<3>();  // K_j (and Q) landed; V_j, K_{j+1}, V_{j+1} may be in flight
      fence_proxy_async();
      __syncthreads();
      issue_scores<Tr, T, D, BN>(s, q_wg, k_tile(j));
      wgmma_wait<0>();
      wgmma_pin(s);
      softmax_tile<BN>(s, rows_of(j), needs_mask(j), scale_log2, row_max, row_sum, rescale);
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
      load_kv(j + 2, true);
      load_kv(j + 2, false);
    }
  }
  cp_async_wait<0>();

  // O / l and the log-sum-exp; a row that saw no key gets O = 0 and lse = -inf.
#pragma unroll
  for (int rh = 0; rh < 2; ++rh) {
    float l = row_sum[rh];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    const std::int64_t row = lane_row + 8 * rh;
    if (row >= a.seq_q) continue;
    const float inv_l = l > 0.0f ? 1.0f / l : 0.0f;
    T* out = static_cast<T*>(a.o) + (bh * a.seq_q + row) * D + 2 * t;
#pragma unroll
    for (int nb = 0; nb < kNb; ++nb)
#pragma unroll
      for (int dt = 0; dt < kN / 8; ++dt)
        *reinterpret_cast<std::uint32_t*>(out + nb * kN + dt * 8) =
            pack2<T>(o[nb][4 * dt + 2 * rh] * inv_l, o[nb][4 * dt + 2 * rh + 1] * inv_l);
    if (t == 0) a.lse[bh * a.seq_q + row] = l > 0.0f ? row_max[rh] * a.scale + logf(l) : -INFINITY;
  }
#endif  // sm_90a: elsewhere the kernel is empty and attention_wgmma refuses to launch it
}

template <class T, int D, int BN, int WGS, bool OVERLAP>
bool launch_wgmma(const AttentionArgs& a, cudaStream_t stream) {
  using Tr = WgTraits<T, D, BN, WGS>;
  auto kernel = attention_wgmma_kernel<T, D, BN, WGS, OVERLAP>;
  if (cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(Tr::kSmemBytes)) !=
      cudaSuccess)
    return false;
  static const AttentionResidency residency = attention_residency(kernel, Tr::kThreads, Tr::kSmemBytes);
  const AttentionSchedule sched = attention_schedule(a, Tr::kBM, residency, false);
  kernel<<<sched.grid, Tr::kThreads, Tr::kSmemBytes, stream>>>(a, sched);
  return true;
}

// The compiled configurations: (element, head_dim, block_n, warpgroups, pipeline); block_m = 64 x
// warpgroups; pipeline 2 overlaps a tile's softmax with the previous tile's P V (OVERLAP), 1 runs
// them in turn. The first entry per element and head dim is the default.
// Measured on an H100 (bf16, 16k tokens, seq 2048-16384, TFLOP/s non-causal / causal), in order:
//   first version: d64  3 warpgroups x 128 keys 300-333 / 228-312 | 2 x 128 279-299 / 236-298
//                        4 x 64 289-308 / 219-292
//                  d128 2 x 128 385-423 / 318-425 | 2 x 64 278-308 / 231-288 | 3 x 64 365-398 / 284-379
//                       pipeline 2 (2 x 128) 375-418 / 300-405
//                  d256 2 x 64 424-469 / 336-477 (attn.fa2_mma 298-317 / 239-320)
//   after the 32-bit diagonal mask and the write-only first k-step of S:
//                  d64  2 x 64 349-370 / 292-353 (110 registers: two blocks per SM, whose phases
//                       interleave) | 1 x 64 335-351 / 305-335 | 3 x 128 299-337 / 252-315
//                  d128 2 x 128 390-427 / 334-431 | 1 x 64 374-401 / 337-383 | 1 x 128 289-313 /
//                       236-312 | 2 x 64 336-368 / 284-371
// The overlap does not pay here: every warpgroup meets at two block barriers per tile, so they
// run in step and one's softmax already hides behind another's GEMM; a second resident block does
// the same more cheaply. (Its first build measured 10-20% slower: ptxas had serialized every
// wgmma, C7514, because S_{j+1} was issued under a branch.)
// ptxas -v (CUDA 13.0): d64 2 x 64 110 registers, 1 x 64 125, 3 x 128 150; d128 224, 1 x 64 184;
// d256 250 (it spilled 4 bytes until the first k-step of S wrote its accumulator without reading
// it); the overlap spills 24 bytes at d128 and 64 at d256 (not compiled there).
#define FA_WGMMA_CONFIGS(X)                  \
  X(f16, __half, 64, 64, 2, 1)               \
  X(f16, __half, 128, 128, 2, 1)             \
  X(f16, __half, 256, 64, 2, 1)              \
  X(bf16, __nv_bfloat16, 64, 64, 2, 1)       \
  X(bf16, __nv_bfloat16, 64, 64, 1, 1)       \
  X(bf16, __nv_bfloat16, 64, 128, 3, 1)      \
  X(bf16, __nv_bfloat16, 128, 128, 2, 1)     \
  X(bf16, __nv_bfloat16, 128, 64, 1, 1)      \
  X(bf16, __nv_bfloat16, 128, 128, 2, 2)     \
  X(bf16, __nv_bfloat16, 256, 64, 2, 1)

}  // namespace

bool attention_wgmma_compiled() {
#ifdef FABENCH_SM90A
  return true;
#else
  return false;
#endif
}

std::vector<AttentionTile> attention_wgmma_configs() {
  std::vector<AttentionTile> out;
#define FA_LIST(E, T, D, BN, WGS, PIPE) \
  out.push_back({D, 64 * WGS, BN, WgTraits<T, D, BN, WGS>::kSmemBytes, 4 * WGS, KernelElem::E, 2, false, PIPE});
  FA_WGMMA_CONFIGS(FA_LIST)
#undef FA_LIST
  return out;
}

bool attention_wgmma(const AttentionArgs& a, const AttentionTile& tile, cudaStream_t stream) {
  if (!attention_wgmma_compiled()) return false;
#define FA_DISPATCH(E, T, D, BN, WGS, PIPE)                                                         \
  if (a.elem == KernelElem::E && a.head_dim == D && tile.block_m == 64 * WGS && tile.block_n == BN && \
      tile.pipeline == PIPE)                                                                            \
    return launch_wgmma<T, D, BN, WGS, PIPE == 2>(a, stream);
  FA_WGMMA_CONFIGS(FA_DISPATCH)
#undef FA_DISPATCH
  return false;
}

}  // namespace fabench

#pragma once
// attn.fa2_mma's kernel (the history of its versions heads attention_fa2_mma.cu): FlashAttention-2
// forward on tensor cores (mma.sync), its traits, tile loads and fragment addressing. The key loop
// takes a policy (attention_keys.cuh): DenseKeys is attention's (attention_fa2_mma.cu, compiled as
// it was before the policy); MaskedKeys and SparseKeys run block masks (attention_sparse_mma.cu).
#include "kernels/attention/attention.h"
#include "kernels/attention/attention_block.cuh"
#include "kernels/attention/attention_keys.cuh"
#include "kernels/common/block_flag.cuh"
#include "kernels/common/mma.cuh"

#include <type_traits>

namespace fabench {

namespace {

// M: the mma element (__half, __nv_bfloat16, float as TF32, or Tf32x3 for fp32 accuracy).
template <class M, int D, int BM, int BN, int WARPS, int STAGES>
struct MmaTraits {
  using T = typename StorageOf<M>::type;  // what the tensors hold
  static constexpr int kThreads = WARPS * 32;
  static constexpr int kMt = BM / (16 * WARPS);  // m16 tiles per warp
  static constexpr int kNt = BN / 8;             // n8 tiles of S per m16 tile
  static constexpr int kDt = D / 8;              // n8 tiles of O per m16 tile
  static constexpr int kK = MmaOp<M>::kK;        // the mma's k
  static constexpr int kChunks = D * static_cast<int>(sizeof(T)) / 16;  // 16-byte chunks per row
  // Q fragments held in registers for the whole loop when they are few; else re-read per tile.
  static constexpr bool kQInRegs = kMt * D * sizeof(T) <= 256;
  static constexpr std::uint32_t kTileBytes = static_cast<std::uint32_t>(BN * D * sizeof(T));  // one K or V buffer
  static constexpr std::size_t kSmemBytes = static_cast<std::size_t>(BM * D * sizeof(T)) + 2 * STAGES * kTileBytes;
  // Static shared memory beside it: a persistent block's current unit (attention_fa2_mma_kernel).
  // (Moved into the dynamic buffer, it changed ptxas's register allocation of the d128 256 x 64
  // tile from no spills to 168 bytes.)
  static constexpr std::size_t kUnitSmemBytes = 16;
  // Whether a block may loop over work items (attention_schedule; non-causal only). Measured on an
  // H100 against one block per item (fp16/bf16, 16k tokens, seq 1024-16384, two passes each): d128
  // +1-5% (256 x 64), d256 +0-3%, but d64 -2..-9% (128 x 64 at 4 warps), so d64 keeps a block per
  // item. Not with two stages, whose prefetch distance the loop would carry across items, nor for
  // tf32, whose 3xTF32 tile spilled 32 bytes with the loop.
  static constexpr bool kPersistent = STAGES == 1 && sizeof(T) == 2 && D >= 128;
  // What a thread hands over of a split item (attention_order.h): O, then row_max and row_sum per row.
  static constexpr int kPartialFloats = kMt * kDt * 4 + kMt * 4;
  static_assert(STAGES == 1 || STAGES == 2, "one or two K/V buffers");
  static_assert(BM % (16 * WARPS) == 0 && kMt >= 1, "whole m16 tiles per warp");
  static_assert(BN % 16 == 0 && D % 16 == 0, "k16 steps over keys and dims");
  static_assert(kChunks % 8 == 0, "fragment addressing needs rows of a multiple of 8 chunks (128 bytes)");
};

// Fragment addresses in the loops, split into a per-lane base and compile-time offsets. With
// CHUNKS a multiple of 8 and fragment rows starting at multiples of 8, chunk 8 * hi + lo (lo < 8)
// of row r lands at 8 * hi + (lo ^ (r mod 8)): the four bases for lo = 2i + lane_bit (i < 4) are
// all a lane needs, and the row block and hi are immediates. Without this split ptxas hoisted one
// address register per unrolled (k step, tile) pair out of the key loop (242 registers at d128).
template <int CHUNKS>
struct SwizzledBases {
  std::uint32_t base[4];
  // lane_row: the lane's row within the fragment (its low 3 bits select the XOR); lane_bit: 0 or 1.
  __device__ __forceinline__ SwizzledBases(std::uint32_t tile, int lane_row, int lane_bit) {
#pragma unroll
    for (int i = 0; i < 4; ++i)
      base[i] = tile + static_cast<std::uint32_t>(lane_row * CHUNKS * 16 + (((2 * i + lane_bit) ^ (lane_row & 7)) * 16));
  }
  // Chunk pair `pair` (chunks 2 * pair and 2 * pair + 1) of fragment row block `row0` (a multiple of 8).
  __device__ __forceinline__ std::uint32_t at(int row0, int pair) const {
    return base[pair & 3] + static_cast<std::uint32_t>(row0 * CHUNKS * 16 + (pair >> 2) * 128);
  }
};

// blockIdx.x through a volatile asm, which the compiler can neither hoist out of a loop nor merge
// with another read: what is computed from it stays where it is written. (Read as blockIdx.x after
// the key loop, the split bounds and partials' addresses were hoisted: the d128 256 x 64 tile then
// spilled 100 bytes and its ldmatrix moved next to the MMAs.)
__device__ __forceinline__ unsigned block_index_unhoisted() {
  unsigned b;
  asm volatile("mov.u32 %0, %%ctaid.x;\n" : "=r"(b));
  return b;
}

// ROWS rows of D elements from `src` (row 0 of the tile) into a swizzled tile; rows at or past
// `rows_left` are zero-filled.
template <class Tr, int ROWS, class T>
__device__ __forceinline__ void load_tile(std::uint32_t dst, const T* src, std::int64_t rows_left) {
  constexpr int kTotal = ROWS * Tr::kChunks;
  constexpr int kIters = (kTotal + Tr::kThreads - 1) / Tr::kThreads;
  constexpr int kRowStep = Tr::kThreads / Tr::kChunks;  // rows one pass of the threads covers
  const auto* bytes = reinterpret_cast<const unsigned char*>(src);
  if constexpr (Tr::kThreads % Tr::kChunks == 0 && kRowStep % 8 == 0 && kTotal % Tr::kThreads == 0) {
    // A thread keeps its chunk and its row's XOR in every pass: one shared and one global base
    // plus immediates. (Per-pass addresses were hoisted out of the key loop, one register each:
    // bf16 d128 with 128 x 64 tiles and 4 warps spilled 92 bytes, the same tile with 8 warps and
    // half the passes none.)
    const int r = static_cast<int>(threadIdx.x) / Tr::kChunks, c = static_cast<int>(threadIdx.x) % Tr::kChunks;
    const std::uint32_t to = dst + swizzle<Tr::kChunks>(r, c);
    const unsigned char* from = bytes + (r * Tr::kChunks + c) * 16;
    // Every tile but a sequence's last takes the first branch, whose addresses are one base plus
    // immediates. (With a select per pass for all tiles, ptxas kept each pass's 64-bit offset from
    // the start of the key loop, and with the split-key bookkeeping spilled them: 14 local loads
    // and stores an iteration, the d128 256 x 64 tile 2% slower.)
    if (rows_left >= ROWS) {
#pragma unroll
      for (int i = 0; i < kIters; ++i)
        cp_async_16(to + i * kRowStep * Tr::kChunks * 16, from + i * kRowStep * Tr::kChunks * 16, true);
    } else {
#pragma unroll
      for (int i = 0; i < kIters; ++i) {
        const bool valid = r + i * kRowStep < rows_left;
        cp_async_16(to + i * kRowStep * Tr::kChunks * 16, valid ? from + i * kRowStep * Tr::kChunks * 16 : bytes,
                    valid);
      }
    }
  } else {
#pragma unroll
    for (int i = 0; i < kIters; ++i) {
      const int e = static_cast<int>(threadIdx.x) + i * Tr::kThreads;
      if (kTotal % Tr::kThreads != 0 && e >= kTotal) break;
      const int r = e / Tr::kChunks, c = e % Tr::kChunks;
      const bool valid = r < rows_left;
      const unsigned char* from = valid ? bytes + (static_cast<std::size_t>(r) * Tr::kChunks + c) * 16 : bytes;
      cp_async_16(dst + swizzle<Tr::kChunks>(r, c), from, valid);
    }
  }
}

// A block mask on one tile of scores in mma.sync's accumulator layout: the lane's rows are
// first_row + 16 mt + 8 rh of the query tile, its keys 8 nt + first_key (+1) of key tile `tile`
// (j0 its first key). kind: the tile's (attention_keys.cuh).
template <class Keys, int BN, int MT, int NT, class Row>
__device__ __forceinline__ void apply_block_mask(float (&s)[MT][NT][4], const Row& mrow, int kind, int tile,
                                                 std::int64_t j0, std::int64_t seq_k, int first_row, int first_key) {
  if (kind >= 0) {  // partial: the tile's bytes, 0 past seq_q and seq_k (a 16-bit load per key pair)
      // A row's loads are issued together, then applied (all rows at once cost 32 registers the
    // 128-row d128 tile does not have).
    const std::uint8_t* bytes = mrow.bytes(kind, tile) + first_key;
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int rh = 0; rh < 2; ++rh) {
        unsigned pairs[NT];
        const std::uint8_t* row = bytes + (first_row + mt * 16 + 8 * rh) * mrow.block;
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) pairs[nt] = mask_pair(row + nt * 8);
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) {
          if (!(pairs[nt] & 0xffu)) s[mt][nt][2 * rh] = -INFINITY;
          if (!(pairs[nt] & 0xff00u)) s[mt][nt][2 * rh + 1] = -INFINITY;
        }
      }
  } else if (kind == kKeysEmpty) {  // MaskedKeys: an empty block's tile, computed, then dropped
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int x = 0; x < 4; ++x) s[mt][nt][x] = -INFINITY;
  } else if (!Keys::kSkip || j0 + BN > seq_k) {
    // Full: only the keys past seq_k go. (MaskedKeys compares every element of every full tile,
    // as a kernel that reads a mask per score does.)
    const int last = static_cast<int>(std::min<std::int64_t>(seq_k - 1 - j0, BN)) - first_key;
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int x = 0; x < 4; ++x)
          if (nt * 8 + (x & 1) > last) s[mt][nt][x] = -INFINITY;
  }
}

// Keys: the key loop's policy (attention_keys.cuh); mask: its block mask (empty for DenseKeys).
template <class M, int D, int BM, int BN, int WARPS, int STAGES, class Keys = DenseKeys>
__global__ void __launch_bounds__(WARPS * 32)
    attention_fa2_mma_kernel(AttentionArgs a, AttentionSchedule sched, float* partials, unsigned* flags,
                             typename Keys::Args mask) {
  static_assert(!Keys::kBlockMask || STAGES == 1, "block masks: one K/V buffer");
  using Tr = MmaTraits<M, D, BM, BN, WARPS, STAGES>;
  using T = typename Tr::T;
  using Mma = MmaOp<M>;
  constexpr int kMt = Tr::kMt, kNt = Tr::kNt, kDt = Tr::kDt, kK = Tr::kK, kC = Tr::kChunks;
  extern __shared__ __align__(128) unsigned char smem[];
  const std::uint32_t q_s = smem_address(smem);
  const std::uint32_t k_s = q_s + BM * D * sizeof(T);
  const std::uint32_t v_s = k_s + STAGES * Tr::kTileBytes;  // K buffers, then V buffers

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane >> 2, t = lane & 3;
  // Without persistence a block does one item, all its keys.
  // (A block mask's query tiles differ in their work: they run one block each.)
  const bool persistent = Tr::kPersistent && !Keys::kBlockMask && sched.persistent;
  AttentionUnit unit = persistent ? attention_first_unit(sched, blockIdx.x)
                                  : AttentionUnit{attention_first_item(sched), 0, kAllKeyTiles};
  AttentionBlock<T, D> blk(a, sched, BM, unit.item);
  // A persistent block's current unit, kept in shared memory (written by thread 0, read back after
  // the key loop) so that no register holds it through the loop. (The loop runs at 255 registers:
  // with the unit, the next one and 64-bit split arithmetic in registers it ran 7% slower on an
  // H100, ptxas having spilled and moved ldmatrix next to its MMAs.)
  __shared__ std::int64_t unit_item_s;
  __shared__ int unit_keys_s[2];
  auto share_unit = [&](const AttentionUnit& u) {
    if (threadIdx.x == 0) unit_item_s = u.item, unit_keys_s[0] = u.key_begin, unit_keys_s[1] = u.key_end;
  };
  if (persistent) share_unit(unit);
  const float scale_log2 = a.scale * 1.4426950408889634f;
  const int warp_row = warp * kMt * 16;  // this warp's first row in the block

  const SwizzledBases<kC> q_frag_at(q_s, warp_row + (lane & 15), lane >> 4);
  const SwizzledBases<kC> k_frag_at(k_s, (lane & 7) + ((lane >> 4) << 3), (lane >> 3) & 1);
  const SwizzledBases<kC> v_frag_at(v_s, (lane & 7) + (((lane >> 3) & 1) << 3), lane >> 4);
  const SwizzledBases<kC> v_even(v_s + (g & 3) * 4, 2 * t, g >> 2), v_odd(v_s + (g & 3) * 4, 2 * t + 1, g >> 2);

  // Tile j's K and V go to buffer j % STAGES. One stage: K_j is fetched during P V_{j-1} and V_j
  // during Q K_j^T (FlashAttention-2's order). Two stages: K and V of tile j + 2 are fetched while
  // tile j + 1 is computed, one commit group each, empty past the end so the counts stay fixed.
  auto load_kv = [&](const AttentionBlock<T, D>& b, int tile, bool key) {
    const std::int64_t r0 = static_cast<std::int64_t>(tile) * BN;
    const std::uint32_t buf = (key ? k_s : v_s) + (tile % STAGES) * Tr::kTileBytes;
    if (tile < b.tiles(BN)) load_tile<Tr, BN>(buf, (key ? b.k : b.v) + r0 * D, a.seq_k - r0);
    cp_async_commit();
  };
  // A block mask's row for this query tile (never persistent: one unit). SparseKeys: the key tile
  // of the next step is read a step ahead of its load (kt), and a step's kind during its S.
  const MaskRowOf<Keys, BN> mrow(mask, blk.bh, blk.i0);
  int kt = 0;
  load_tile<Tr, BM>(q_s, blk.q, a.seq_q - blk.i0);
  if constexpr (Keys::kSkip) {
    kt = mrow.steps() > 0 ? mrow.key_tile(0) : blk.tiles(BN);
    load_kv(blk, kt, true);  // Q joins K's group
  } else {
    load_kv(blk, unit.key_begin, true);  // Q joins K's group
  }
  [[maybe_unused]] int cursor = 0;  // MaskedKeys: the entry reached in the mask row
  if constexpr (STAGES == 2) {  // never persistent: key_begin is 0
    load_kv(blk, 0, false);
    load_kv(blk, 1, true);
    load_kv(blk, 1, false);
  }

  // Persistent (one stage, non-causal): the block loops over work units (attention_order.h); the
  // next unit's Q and first K tile are fetched before this unit's output is stored, so they land
  // during the stores instead of after them. (Fetched as soon as the unit's last S was computed,
  // during its last softmax and P V, they cost 5-7%.)
  for (;;) {
    const std::int64_t bh = blk.bh, i0 = blk.i0, diag = blk.diag;
    const int n_tiles = blk.tiles(BN), j_begin = unit.key_begin,
              j_end = Keys::kSkip ? mrow.steps() : min(unit.key_end, n_tiles);  // SparseKeys: j is a step
    float o[kMt][kDt][4] = {};
    float row_max[kMt][2], row_sum[kMt][2];  // row_max in score units; row_sum per lane until the end
#pragma unroll
    for (int mt = 0; mt < kMt; ++mt)
#pragma unroll
      for (int rh = 0; rh < 2; ++rh) {
        row_max[mt][rh] = -INFINITY;
        row_sum[mt][rh] = 0.0f;
      }
    std::uint32_t q_frag[Tr::kQInRegs ? kMt : 1][Tr::kQInRegs ? D / kK : 1][4];

    for (int j = j_begin; j < j_end; ++j) {
      const int tile = Keys::kSkip ? kt : j;  // the key tile
      const std::int64_t j0 = static_cast<std::int64_t>(tile) * BN;
      const std::uint32_t stage = (j % STAGES) * Tr::kTileBytes;
      // Block masks: what this tile's scores keep, and (SparseKeys) the next step's key tile, read
      // now and used after S, so S hides their latency.
      int kind = kKeysFull, kt_next = 0;
      if constexpr (Keys::kSkip) {
        kind = mrow.kind(j);
        kt_next = j + 1 < j_end ? mrow.key_tile(j + 1) : n_tiles;
      } else if constexpr (Keys::kBlockMask) {
        kind = mrow.kind_of_tile(j, cursor);
      }
      if constexpr (STAGES == 1) {
        cp_async_wait<0>();
        __syncthreads();  // K_j (and Q) landed; every warp is done with V_{j-1}
        load_kv(blk, tile, false);
      } else {
        cp_async_wait<3>();  // K_j landed; V_j, K_{j+1}, V_{j+1} may be in flight
        __syncthreads();
      }

      if constexpr (Tr::kQInRegs) {
        if (j == j_begin) {
#pragma unroll
          for (int mt = 0; mt < kMt; ++mt)
#pragma unroll
            for (int kk = 0; kk < D / kK; ++kk)
              ldmatrix_x4(q_frag[mt][kk], q_frag_at.at(mt * 16, kk));
        }
      }

      // S = Q K_j^T, in steps of (k step, pair of n8 tiles). A step's K fragment, and at a new k
      // step the Q fragments, are loaded one step ahead of its MMAs, as FlashAttention-2's gemm
      // does. (Loaded just before use, ptxas issued each ldmatrix right before the four MMAs that
      // wait on it: short-scoreboard stalls were 17% of the kernel's samples against 7% in
      // FlashAttention-2, bf16 d128 128 x 64 on an H100.)
      constexpr int kPairs = kNt / 2, kSteps = (D / kK) * kPairs;
      float s[kMt][kNt][4] = {};
      std::uint32_t a_frag[2][kMt][4], b_frag[2][4];
      auto load_a = [&](int kk, std::uint32_t (&dst)[kMt][4]) {
#pragma unroll
        for (int mt = 0; mt < kMt; ++mt) {
          if constexpr (Tr::kQInRegs) {
#pragma unroll
            for (int x = 0; x < 4; ++x) dst[mt][x] = q_frag[mt][kk][x];
          } else {
            ldmatrix_x4(dst[mt], q_frag_at.at(mt * 16, kk));
          }
        }
      };
      auto load_b = [&](int step, std::uint32_t (&dst)[4]) {
        ldmatrix_x4(dst, k_frag_at.at((step % kPairs) * 16, step / kPairs) + stage);
      };
      load_a(0, a_frag[0]);
      load_b(0, b_frag[0]);
#pragma unroll
      for (int kk = 0; kk < D / kK; ++kk) {
#pragma unroll
        for (int np = 0; np < kPairs; ++np) {
          const int step = kk * kPairs + np;
          if (step + 1 < kSteps) {
            load_b(step + 1, b_frag[(step + 1) & 1]);
            if (np == kPairs - 1) load_a(kk + 1, a_frag[(kk + 1) & 1]);
          }
#pragma unroll
          for (int mt = 0; mt < kMt; ++mt) {
            Mma::run(s[mt][2 * np], a_frag[kk & 1][mt], b_frag[step & 1][0], b_frag[step & 1][1]);
            Mma::run(s[mt][2 * np + 1], a_frag[kk & 1][mt], b_frag[step & 1][2], b_frag[step & 1][3]);
          }
        }
      }

      // K_{j+1} is requested before the softmax, not after it, so its load has the softmax and P V_j
      // to land in (FlashAttention-2's order). (After the softmax: 298-315 TFLOP/s bf16 d128 with
      // the 128 x 64 tile non-causal on an H100, against 352-361 for FlashAttention-2.)
      if constexpr (STAGES == 1) {
        cp_async_wait<0>();
        __syncthreads();  // V_j landed; every warp is done with K_j (and, at the unit's last tile, Q)
        // Past the unit's end: an empty group.
        load_kv(blk, Keys::kSkip ? kt_next : j + 1 < j_end ? j + 1 : n_tiles, true);
      } else {
        cp_async_wait<2>();  // V_j landed
        __syncthreads();
      }

      // Online softmax on the fragments: lane holds rows g and g + 8, keys 2t and 2t + 1 of each n8
      // tile. Each phase runs over all of the lane's rows before the next, so their maxima, shuffles
      // and exponentials overlap. (Row after row, the shuffles' and exponentials' latencies were
      // exposed once per row.) Masks: one 32-bit bound per row (lane_key_limit): against per-element
      // 64-bit compares, causal d64 +2-7% at seq 2k-4k, but d128 non-causal, which masks nothing,
      // came out 2% slower, from ptxas's register allocation at 255 registers (H100, same run).
      if constexpr (Keys::kBlockMask) {
        apply_block_mask<Keys, BN>(s, mrow, kind, tile, j0, a.seq_k, warp_row + g, 2 * t);
      } else if (blk.needs_mask(a, j0, BN)) {
#pragma unroll
        for (int mt = 0; mt < kMt; ++mt)
#pragma unroll
          for (int rh = 0; rh < 2; ++rh) {
            const int last =
                lane_key_limit(i0 + warp_row + mt * 16 + g + 8 * rh, j0, a.seq_k, a.causal, diag, BN, 2 * t);
#pragma unroll
            for (int nt = 0; nt < kNt; ++nt)
#pragma unroll
              for (int e = 0; e < 2; ++e)
                if (nt * 8 + e > last) s[mt][nt][2 * rh + e] = -INFINITY;
          }
      }
      float m_new[kMt][2], rescale[kMt][2];
#pragma unroll
      for (int mt = 0; mt < kMt; ++mt)
#pragma unroll
        for (int rh = 0; rh < 2; ++rh) {
          float m = row_max[mt][rh];
#pragma unroll
          for (int nt = 0; nt < kNt; ++nt) m = fmaxf(m, fmaxf(s[mt][nt][2 * rh], s[mt][nt][2 * rh + 1]));
          m_new[mt][rh] = m;
        }
#pragma unroll
      for (int lane_mask = 1; lane_mask <= 2; lane_mask *= 2)
#pragma unroll
        for (int mt = 0; mt < kMt; ++mt)
#pragma unroll
          for (int rh = 0; rh < 2; ++rh)
            m_new[mt][rh] = fmaxf(m_new[mt][rh], __shfl_xor_sync(0xffffffffu, m_new[mt][rh], lane_mask));
#pragma unroll
      for (int mt = 0; mt < kMt; ++mt)
#pragma unroll
        for (int rh = 0; rh < 2; ++rh) {
          // A row that has seen only masked keys keeps max -inf; subtracting 0 then gives exp2(-inf) = 0.
          const float m_scaled = m_new[mt][rh] == -INFINITY ? 0.0f : m_new[mt][rh] * scale_log2;
          rescale[mt][rh] = fast_exp2(row_max[mt][rh] * scale_log2 - m_scaled);
          row_max[mt][rh] = m_new[mt][rh];
          float tile_sum = 0.0f;
#pragma unroll
          for (int nt = 0; nt < kNt; ++nt)
#pragma unroll
            for (int e = 0; e < 2; ++e) {
              const float p = fast_exp2(fmaf(s[mt][nt][2 * rh + e], scale_log2, -m_scaled));
              s[mt][nt][2 * rh + e] = p;
              tile_sum += p;
            }
          row_sum[mt][rh] = row_sum[mt][rh] * rescale[mt][rh] + tile_sum;
        }
#pragma unroll
      for (int mt = 0; mt < kMt; ++mt)
#pragma unroll
        for (int dt = 0; dt < kDt; ++dt)
#pragma unroll
          for (int x = 0; x < 4; ++x) o[mt][dt][x] *= rescale[mt][x / 2];

      // O += P V_j
      if constexpr (kK == 16) {
#pragma unroll
        for (int ks = 0; ks < BN / 16; ++ks) {
          std::uint32_t p_frag[kMt][4];
#pragma unroll
          for (int mt = 0; mt < kMt; ++mt) {
            p_frag[mt][0] = pack2<T>(s[mt][2 * ks][0], s[mt][2 * ks][1]);
            p_frag[mt][1] = pack2<T>(s[mt][2 * ks][2], s[mt][2 * ks][3]);
            p_frag[mt][2] = pack2<T>(s[mt][2 * ks + 1][0], s[mt][2 * ks + 1][1]);
            p_frag[mt][3] = pack2<T>(s[mt][2 * ks + 1][2], s[mt][2 * ks + 1][3]);
          }
#pragma unroll
          for (int dp = 0; dp < kDt / 2; ++dp) {
            std::uint32_t b_frag[4];
            ldmatrix_x4_trans(b_frag, v_frag_at.at(ks * 16, dp) + stage);
#pragma unroll
            for (int mt = 0; mt < kMt; ++mt) {
              Mma::run(o[mt][2 * dp], p_frag[mt], b_frag[0], b_frag[1]);
              Mma::run(o[mt][2 * dp + 1], p_frag[mt], b_frag[2], b_frag[3]);
            }
          }
        }
      } else {  // tf32, k8 steps with the key permutation described at the top
        // 3xTF32: the tile's P V is summed in a fresh accumulator and added to O on the CUDA cores.
        // Accumulating every key into O inside the tensor core lost precision linearly in seq
        // (rel_l2 1.5e-5 at 2k, 1.14e-4 at 16k, 2.3e-4 at 32k against the fp32 tolerance of 1e-4);
        // summed per tile: 1.1e-5 at 16k, 2.1e-5 at 32k, at the same speed (H100, 36-43 TFLOP/s).
        constexpr bool kTileSum = std::is_same_v<M, Tf32x3>;
        float pv[kTileSum ? kMt : 1][kTileSum ? kDt : 1][4] = {};
#pragma unroll
        for (int ks = 0; ks < BN / 8; ++ks) {
          std::uint32_t p_frag[kMt][4];
#pragma unroll
          for (int mt = 0; mt < kMt; ++mt) {
            p_frag[mt][0] = __float_as_uint(s[mt][ks][0]);
            p_frag[mt][1] = __float_as_uint(s[mt][ks][2]);
            p_frag[mt][2] = __float_as_uint(s[mt][ks][1]);
            p_frag[mt][3] = __float_as_uint(s[mt][ks][3]);
          }
#pragma unroll
          for (int dt = 0; dt < kDt; ++dt) {
            // Lane (g, t) reads V[key 2t (+1)][dim 8 dt + g]: chunk 2 dt + (g >> 2), word g & 3.
            const std::uint32_t b0 = lds32(v_even.at(ks * 8, dt) + stage), b1 = lds32(v_odd.at(ks * 8, dt) + stage);
#pragma unroll
            for (int mt = 0; mt < kMt; ++mt) {
              if constexpr (kTileSum) {
                Mma::run(pv[mt][dt], p_frag[mt], b0, b1);
              } else {
                Mma::run(o[mt][dt], p_frag[mt], b0, b1);
              }
            }
          }
        }
        if constexpr (kTileSum) {
#pragma unroll
          for (int mt = 0; mt < kMt; ++mt)
#pragma unroll
            for (int dt = 0; dt < kDt; ++dt)
#pragma unroll
              for (int x = 0; x < 4; ++x) o[mt][dt][x] += pv[mt][dt][x];
        }
      }
      if constexpr (STAGES == 2) {
        __syncthreads();  // every warp is done with buffer j % 2
        load_kv(blk, j + 2, true);
        load_kv(blk, j + 2, false);
      }
      if constexpr (Keys::kSkip) kt = kt_next;
    }
    // A query tile whose list is empty ran no step: its Q copy may still be in flight.
    if constexpr (Keys::kSkip) cp_async_wait<0>();

    if (persistent) unit = AttentionUnit{unit_item_s, unit_keys_s[0], unit_keys_s[1]};
    // The block index read anew (block_index_unhoisted) keeps what derives from it, the split
    // bounds and the partials' addresses, out of registers during the key loop.
    const unsigned block = block_index_unhoisted();
    const AttentionUnit next = persistent ? attention_next_unit(sched, block, unit) : AttentionUnit{};
    const bool has_next = next.item >= 0;
    if (has_next) {
      // Every warp is done with Q and K_j (read before the barrier after the last S) and has read
      // the unit, which thread 0 now replaces.
      __syncthreads();
      share_unit(next);
      const AttentionBlock<T, D> next_blk(a, sched, BM, next.item);
      load_tile<Tr, BM>(q_s, next_blk.q, a.seq_q - next_blk.i0);
      load_kv(next_blk, next.key_begin, true);
    }
    // Stream-K: a tail piece hands its unnormalised O, row_max and per-lane row_sum to the block
    // holding the item's head piece (the previous block, which reaches it last), in its own
    // fragment layout, so the same thread of that block reads them back.
    constexpr int kPartialFloats = Tr::kPartialFloats, kStats = kMt * kDt * 4;  // O first, then the row stats
    if (persistent && unit.key_begin > 0) {
      float* slot = partials + static_cast<std::size_t>(block) * kPartialFloats * Tr::kThreads + threadIdx.x;
#pragma unroll
      for (int mt = 0; mt < kMt; ++mt) {
#pragma unroll
        for (int dt = 0; dt < kDt; ++dt)
#pragma unroll
          for (int x = 0; x < 4; ++x) __stcg(slot + ((mt * kDt + dt) * 4 + x) * Tr::kThreads, o[mt][dt][x]);
#pragma unroll
        for (int rh = 0; rh < 2; ++rh) {
          __stcg(slot + (kStats + mt * 4 + 2 * rh) * Tr::kThreads, row_max[mt][rh]);
          __stcg(slot + (kStats + mt * 4 + 2 * rh + 1) * Tr::kThreads, row_sum[mt][rh]);
        }
      }
      block_flag_raise(flags + block);
    } else {  // a whole item or a head piece: O / l and the log-sum-exp
      if (persistent && unit.key_end < n_tiles) {  // a head piece: fold in the tail piece's partials
        block_flag_wait(flags + block + 1);
        const float* slot =
            partials + static_cast<std::size_t>(block + 1) * kPartialFloats * Tr::kThreads + threadIdx.x;
#pragma unroll
        for (int mt = 0; mt < kMt; ++mt)
#pragma unroll
          for (int rh = 0; rh < 2; ++rh) {
            const float m_tail = __ldcg(slot + (kStats + mt * 4 + 2 * rh) * Tr::kThreads);
            const float l_tail = __ldcg(slot + (kStats + mt * 4 + 2 * rh + 1) * Tr::kThreads);
            const float m = fmaxf(row_max[mt][rh], m_tail);
            const float m_scaled = m == -INFINITY ? 0.0f : m * scale_log2;
            const float own = fast_exp2(row_max[mt][rh] * scale_log2 - m_scaled);
            const float tail = fast_exp2(m_tail * scale_log2 - m_scaled);
            row_max[mt][rh] = m;
            row_sum[mt][rh] = row_sum[mt][rh] * own + l_tail * tail;
#pragma unroll
            for (int dt = 0; dt < kDt; ++dt)
#pragma unroll
              for (int e = 0; e < 2; ++e)
                o[mt][dt][2 * rh + e] = o[mt][dt][2 * rh + e] * own +
                                        __ldcg(slot + ((mt * kDt + dt) * 4 + 2 * rh + e) * Tr::kThreads) * tail;
          }
      }

      // O / l and the log-sum-exp; a row that saw no key gets O = 0 and lse = -inf.
#pragma unroll
      for (int mt = 0; mt < kMt; ++mt) {
#pragma unroll
        for (int rh = 0; rh < 2; ++rh) {
          float l = row_sum[mt][rh];
          l += __shfl_xor_sync(0xffffffffu, l, 1);
          l += __shfl_xor_sync(0xffffffffu, l, 2);
          const std::int64_t row = i0 + warp_row + mt * 16 + g + 8 * rh;
          if (row >= a.seq_q) continue;
          const float inv_l = l > 0.0f ? 1.0f / l : 0.0f;
          T* out = static_cast<T*>(a.o) + (bh * a.seq_q + row) * D + 2 * t;
#pragma unroll
          for (int dt = 0; dt < kDt; ++dt) {
            const float x0 = o[mt][dt][2 * rh] * inv_l, x1 = o[mt][dt][2 * rh + 1] * inv_l;
            if constexpr (sizeof(T) == 4) {
              *reinterpret_cast<float2*>(out + dt * 8) = make_float2(x0, x1);
            } else {
              *reinterpret_cast<std::uint32_t*>(out + dt * 8) = pack2<T>(x0, x1);
            }
          }
          if (t == 0) a.lse[bh * a.seq_q + row] = l > 0.0f ? row_max[mt][rh] * a.scale + logf(l) : -INFINITY;
        }
      }
    }
    if (!has_next) break;
    unit = next;
    blk = AttentionBlock<T, D>(a, sched, BM, unit.item);
  }
}
}  // namespace

}  // namespace fabench

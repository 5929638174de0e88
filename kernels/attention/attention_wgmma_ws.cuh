#pragma once
// attn.wgmma's key loop, warp-specialized and persistent (FlashAttention-3's division of a block):
// a producer warpgroup only loads, two consumer warpgroups only compute, and they meet at mbarriers
// instead of the block barriers attention_wgmma.cuh's loop takes three times a step. One block an
// SM walks query tiles drawn from a device counter, so the producer loads the next tile's K, V and
// Q while the consumers finish the current one.
//   - Producer (warpgroup 0, its registers cut to 40 by setmaxnreg): takes a tile (its block's
//     index first, then draws: thread 0, an atomic add) and hands its index to the consumers
//     through a shared slot; then each step's K and V into buffer step % 2 of a ring that runs on
//     across tiles, and the tile's Q once both consumers have issued their last S of the previous
//     tile (asked into the L2 as soon as the tile is drawn). Q, K and V by the copy engine
//     (TMA, thread 0, tensor maps with the 128-byte swizzle wgmma reads, rows past the sequence
//     as zeros), counted in bytes on the barrier; a partial block's bytes by every producer
//     thread's cp.async, whose cp.async.mbarrier.arrive counts on the buffer's `full` barrier once
//     its copies land. A buffer is refilled once both consumers have arrived on its `empty`
//     barrier.
//   - Consumers (warpgroups 1 and 2, 64 query rows each, 232 registers): wait on K's `full`, S,
//     the softmax, P V. S of step j + 1 is issued with P V of step j, and step j + 1's softmax
//     runs while P V does (FlashAttention-3's overlap within a warpgroup, since 96317f1); K and V
//     have barriers of their own, K's buffer released once its S is done, V's once its P V is
//     (with one `full` and `empty` pair a buffer, the buffer a step frees would come back half a
//     step before it is needed). No proxy fence: the
//     copy engine writes through the async proxy, as wgmma reads. (Before d8a2f7d the copies were
//     cp.async, generic-proxy writes, and each step began with a proxy fence, MEMBAR.ALL.CTA,
//     which waited for the thread's outstanding memory operations, at a tile's first step its
//     output stores; dropping it measured 1.10-1.13x, attention_sparse_wgmma.cu.) With no barrier
//     between them the two drift apart, so one's softmax runs beside the other's GEMMs.
//     At a tile's end a consumer reads the next tile's slot before it stores the output (371c53b,
//     then with a prefetch of the next mask row, dropped at a69ebf7: 1.055x at seq 8k density 0.1,
//     attention_sparse_wgmma.cu says what each measured).
//     Tried and not merged (1bcc07a, branch ws-tma-store, results/h200/ws_tma_store_1bcc07a68cdc,
//     H200): the output through a shared-memory staging tile that the copy engine stores (one
//     tma_store_3d a consumer; the mask stages unpadded and XOR-swizzled to make room). Validated
//     (the odd-shape, [sparse], [bwd] and [generate] GPU tests, memcheck, racecheck, synccheck) but
//     0.94-1.03x this loop on the sparse cases (seq 8k density 0.1 0.99x, 0.25 0.96x, causal 0.95x)
//     and 0.99-1.03x dense (seq 1k 1.02-1.03x): the stores were not what a tile's end waits for.
//     Tried and not merged (5a98a2c, branch ws-next-s0, results/h200/ws_next_s0_5a98a2cb7073, H200,
//     main 32598f0 in the same run): the steps of all of a block's tiles as one stream, so that at a
//     tile's last step the S issued beside its P V is the next tile's first instead of one whose
//     scores are dropped (Q in two buffers, loaded as soon as a tile is drawn; the mask stages
//     XOR-swizzled instead of padded to make room). Validated (the [sparse] and odd-shape GPU
//     tests, memcheck, racecheck, synccheck) but slower: 0.84-0.91x on the sparse cases (density 1
//     0.90x), 0.96-1.00x dense. Kept spill-free only by rebuilding a tile's mask row at every step,
//     which put a 64-bit division and two dependent loads before each S.
//     Tried and not merged (7a262bc, branch ws-step-ticket, results/h200/
//     ws_step_ticket_7a262bc3ed2b, H200, 3972cff in the same run): each K buffer carrying its
//     step's key tile and kind in shared memory (producer thread 0 writes them before its arrival
//     on K's `full`), so the consumers read no mask-row entries from global memory. [sparse] GPU
//     test, memcheck, racecheck, synccheck pass; 1.011-1.012x at density 1 and causal, 0.991-0.996x
//     at density 0.1, 0.996-1.008x elsewhere: the steps gained about 1%, a tile's start did not.
//     Tried and not merged (e852228 and e1a7554, branch ws-stream, results/h200/
//     ws_stream_e852228943ad, H200, 3972cff's kernels in the same runs): 5a98a2c's one stream of
//     steps without its mask-row rebuilds: each step's key tile, kind and first-step flag in a
//     ticket beside its K buffer, the tile's slice and row beside its Q (two Q buffers), empty tiles'
//     output by the producer. Validated (the [sparse] and odd-shape GPU tests, memcheck, racecheck,
//     synccheck) but 0.926-0.994x on the sparse cases (seq 8k density 0.1 0.934x) and 0.946-0.980x
//     dense: about 3% a step (the S waits on its ticket to pick the Q buffer), more at a tile's switch
//     (the last P V waits with the next tile's first S for its K and Q, asked for only after the
//     draw and the mask row); drawing a tile ahead (e1a7554) was slower still. Its producer needed
//     56 registers: at 56 / 224 (b885600, branch ws-regs-56) this loop's consumers spill 4 bytes on
//     the sparse instances and run 0.96-0.98x there (dense, no spill, 1.00x), so 40 / 232 stays.
//     Tried (42ff2f1, branch ws-pingpong, results/h200/ws_pingpong_42ff2f1a99ab, H200):
//     the consumers taking turns at the tensor cores (FlashAttention-3's ping-pong: consumer w waits
//     on named barrier 2 + w before it issues its GEMMs, arrives on the other's once issued) beside
//     the overlap within a warpgroup. Validated (the [sparse] and odd-shape GPU tests, memcheck,
//     racecheck, synccheck); sparse 0.995-1.041x (window 1024 1.041x, seq 8k density 0.1 1.011x,
//     density 1 0.995x), dense 0.981-1.015x. For block masks only (c170935, branch pingpong-sparse,
//     results/h200/pingpong_sparse_c170935315b4): sparse 0.993-1.045x, but density 1 at seq 8k then
//     takes 1.052x attn.wgmma's time, past issue 18's 5%. Merged at e214e79 for masks of at most 48
//     entries a query block on average (kTurns below, sparse_ws_turns).
// Since fb5fc8f a block's first tile is its index (no atomic) and its Q is asked for before its mask
// row is read, and a later tile's Q is asked into the L2 as soon as the tile is drawn. Measured on
// an H200 against b6d929c in one run, each twice, in turn (results/h200/ws_q_prefetch_fb5fc8f6d471/
// ab): sparse 1.000-1.010x (seq 8k density 0.05 / 0.1 / 0.25 1.010 / 1.007 / 1.005x, window 1024
// 1.005x), dense 0.995-1.004x; again in another lease (validation/ there) sparse 1.000-1.005x,
// dense 0.999-1.003x, and a launch's cost beyond its batches at seq 8k density 0.1 16.5 -> 14.7 us.
// The first tile alone (9a566d5): sparse 0.999-1.009x.
// Tried and not merged (7e9913c, branch ws-l2-ahead, ws_l2_ahead_7e9913c.diff in ab/ there):
// besides Q, each step's K and V asked into the L2 two steps before their loads: sparse 0.85-0.93x,
// dense 0.86-0.92x. Only a drawn tile's first two steps' K and V (da5a592, branch ws-first-steps-l2,
// first_steps_da5a5923c239 there): sparse 0.92-0.99x, dense 0.97-1.00x. K and V are mostly in
// the L2 already (a key block serves every query tile of its head that lists it); the prefetches
// cost the copy engine and the L2 more than the misses they save (and the sparse instances
// spilled 20 and 12 bytes with them).
// Tried and not merged (results/h200/ws_q_double_324ddba696e9, H200, against fb5fc8f in one run,
// each twice, in turn): two Q buffers, so a tile's Q loads as soon as the tile is drawn instead of
// after the consumers' last S of the tile before (324ddba, ws_q_double.diff there; the mask stages
// XOR-swizzled to make room): sparse 0.983-1.000x (seq 8k density 0.1 0.994x), dense 0.990-1.011x.
// With the Q prefetched into the L2 at the draw, the load after the last S is no longer what a
// tile's start waits for. prefetch.tensormap of the three maps at the kernel's start (03e278f):
// sparse 0.993-1.003x, dense 0.996-1.001x, a launch's cost unchanged.
// Keys as in attention_wgmma.cuh (SparseKeys: the list of a query tile's key blocks; sparse.wgmma
// v3 runs it, attention_sparse_wgmma.cu has what it measured). DenseKeys: attn.wgmma's pipeline 3,
// its default at d 128 since 185b975 (attention_wgmma.cu: 1.51-1.57x its block-synchronous loop
// non-causal on an H200; validated by the odd-shape GPU test and compute-sanitizer on
// configs/sanitize_attention.json). Tiles are drawn in launch order (attention_block_slot),
// SparseKeys' with each slice's heaviest first (ws_tile_item). A block's first draw is its index;
// the rest come from a counter, one per translation unit, that the block making the launch's last
// counted draw resets, so launches of these kernels must not overlap (fa-bench runs one launch at a
// time).
#include <algorithm>
#include <cstdio>  // FABENCH_WS_WATCHDOG's printf

#include "kernels/attention/attention_wgmma.cuh"
#include "kernels/common/bulk_copy.cuh"
#include "kernels/common/tensor_map.h"

namespace fabench {

namespace {

__device__ unsigned ws_tiles_drawn;  // zero at load; every launch leaves it at zero

// mbarrier_wait_parity, or (FABENCH_WS_WATCHDOG, a diagnostic build) a wait that gives up after
// about 2^27 polls and traps, printing which barrier of which role and tile it waited on.
#ifdef FABENCH_WS_WATCHDOG
__device__ __forceinline__ void ws_wait(std::uint32_t bar, std::uint32_t parity, const char* what, int u, int step) {
  for (unsigned polls = 0;; ++polls) {
    std::uint32_t done;
    asm volatile(
        "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(done)
        : "r"(bar), "r"(parity)
        : "memory");
    if (done) return;
    if (polls == (1u << 27)) {
      printf("ws watchdog: block %d thread %d waits on %s parity %u (tile %d, step %d)\n", blockIdx.x, threadIdx.x,
             what, parity, u, step);
      __trap();
    }
  }
}
#else
__device__ __forceinline__ void ws_wait(std::uint32_t bar, std::uint32_t parity, const char*, int, int) {
  mbarrier_wait_parity(bar, parity);
}
#endif
// The item a block's draw `drawn` gives it: SparseKeys take each slice's query tiles heaviest
// first, the last slices' together (heaviest_first_item, attention_mask_row.h), DenseKeys in
// launch order.
template <class Keys>
__device__ __forceinline__ int ws_tile_item(const typename Keys::Args& mask, const AttentionSchedule& s, int block_m,
                                            unsigned drawn) {
  if constexpr (Keys::kBlockMask) {
    return static_cast<int>(heaviest_first_item(mask, drawn, s.tiles, s.slices, s.tail, block_m));
  } else {
    return static_cast<int>(drawn);
  }
}
// Named barrier 1 among the producer's 128 threads (0 is __syncthreads).
__device__ __forceinline__ void producer_barrier() { asm volatile("bar.sync 1, 128;\n" ::: "memory"); }
// The consumers' turns at the tensor cores (FlashAttention-3's ping-pong; SparseKeys only): consumer
// w waits on named barrier 2 + w before it issues its GEMMs and, once issued, lets the other one go
// by arriving on the other's barrier, so one consumer's softmax (and a tile's output stores) runs
// while the other's GEMMs do. Each barrier counts the 256 consumer threads: 128 that wait, 128 that
// arrive. Every tile gives both consumers the same issues (its first S, then one a step), so the
// turns alternate across tiles. Measured on an H200 at 42ff2f1 (turns for both key policies)
// against 3972cff in one run, each twice, in turn (results/h200/ws_pingpong_42ff2f1a99ab): sparse
// seq 8k random density 0.1 / 0.25 / 1 1.011 / 1.002 / 0.995x, per-head 1.020x, window 1024
// 1.041x, causal + window 1.024x, global + window 1.014x, documents 1.012x, 16k density 0.1 / 1
// 1.005 / 0.997x; dense attn.wgmma 0.981-0.991x non-causal, 0.992-1.015x causal: so DenseKeys
// keep the loop without turns. At c170935 (turns for every block mask, results/h200/
// pingpong_sparse_c170935315b4) the same on the sparse cases (0.993-1.045x), but density 1 at seq 8k
// then took 1.052x attn.wgmma's time, past issue 18's 5%: the launcher turns them on only for masks
// of few steps a query tile (sparse_ws_turns, attention_mask_row.h). Gated by a kernel argument
// (c2140e5, results/h200/pingpong_gated_e214e79a35f7/arg_c2140e576de0) the loop without turns ran
// 1% slower than 3972cff's at density 1 (8k 0.991x, 16k 0.988x): the branch around the barriers
// cost the loop itself. So the turns are a template parameter and the launcher picks one of two
// instances (e214e79, results/h200/pingpong_gated_e214e79a35f7, H200, against 3972cff in one run,
// each twice, in turn): sparse 0.998-1.045x (window 1024 1.045x, causal + window 1.028x, per-head
// 1.019x, global + window 1.016x, documents 1.014 / 1.003x, seq 8k density 0.1 / 0.25 / 1 1.013 /
// 1.002 / 1.000x, 16k density 0.1 / 1 1.004 / 0.998x), dense 0.998-1.000x.
__device__ __forceinline__ void consumer_turn_wait(int wg) {
  asm volatile("bar.sync %0, 256;\n" ::"r"(2 + wg) : "memory");
}
__device__ __forceinline__ void consumer_turn_pass(int wg) {
  asm volatile("bar.arrive %0, 256;\n" ::"r"(3 - wg) : "memory");
}

// A partial block's BM x BN bytes (rows `block` bytes apart) into a mask stage (stage_mask_tile's
// layout) by every producer thread's cp.async, 16 bytes each.
template <int BM, int BN>
__device__ __forceinline__ void producer_load_mask(std::uint32_t dst, const std::uint8_t* src, int block) {
  constexpr int kChunks = BN / 16, kRowsPerPass = 128 / kChunks;
  const int tid = static_cast<int>(threadIdx.x) % 128, r = tid / kChunks, c = tid % kChunks;
  const std::uint32_t to = dst + r * MaskStage<BM, BN>::kMaskRow + c * 16;
  const std::uint8_t* from = src + static_cast<std::size_t>(r) * block + c * 16;
#pragma unroll 4
  for (int i = 0; i < BM / kRowsPerPass; ++i)
    cp_async_16(to + i * kRowsPerPass * MaskStage<BM, BN>::kMaskRow,
                from + static_cast<std::size_t>(i) * kRowsPerPass * block, true);
}

// A query tile's steps and the key tile and kind of step j: the block mask's list (SparseKeys) or
// every key tile up to the causal limit (DenseKeys), read alike by the producer and the consumers.
template <class Keys, int BN, class Block, class Row>
__device__ __forceinline__ int tile_steps(const Block& blk, const Row& mrow) {
  return Keys::kSkip ? mrow.steps() : blk.tiles(BN);
}
template <class Keys, class Row>
__device__ __forceinline__ int step_key_tile(const Row& mrow, int j) {
  return Keys::kSkip ? mrow.key_tile(j) : j;
}
template <class Keys, class Row>
__device__ __forceinline__ int step_kind(const Row& mrow, int j) {
  return Keys::kSkip ? mrow.kind(j) : kKeysFull;
}

// A drawn tile's slice, first query row and key tiles (AttentionBlock's bh, i0 and tiles(BN)) by
// 32-bit arithmetic: the draws count in 32 bits, so items fit. The consumers build it at every
// tile's start, before its first S, where AttentionBlock's 64-bit divisions (a software routine of
// about 70 instructions each) stood.
struct WsTile {
  int bh, i0, key_tiles;
};
template <int BM, int BN>
__device__ __forceinline__ WsTile ws_tile(const AttentionArgs& a, const AttentionSchedule& s, int item) {
  const BlockSlot slot = attention_block_slot32(item, static_cast<int>(s.tiles), static_cast<int>(s.slices),
                                                static_cast<int>(s.tail));
  const int i0 = (static_cast<int>(s.tiles) - 1 - static_cast<int>(slot.tile_from_last)) * BM;
  return {static_cast<int>(slot.slice), i0, static_cast<int>((attention_key_end(a, i0, BM) + BN - 1) / BN)};
}

constexpr int kWsThreads = 384;         // producer warpgroup + two consumer warpgroups
constexpr int kProducerRegisters = 40;  // 128 x 40 + 256 x 232 = 64512 of the SM's 65536
constexpr int kConsumerRegisters = 232;

template <class T, int D, int BN>
struct WsTraits {
  using Tr = WgTraits<T, D, BN, 2>;  // the consumers' tiles: 2 x 64 query rows
  static constexpr std::uint32_t kMaskBytes = MaskStage<Tr::kBM, BN>::kBytes;
  // Q, two K and two V buffers, two mask stages, then ten mbarriers (K full and empty x 2, Q full
  // and empty, tile slot full and empty x 2), the two tile slots, and V full and empty x 2.
  static constexpr std::size_t kBarrierOffset = Tr::kQBytes + 4 * Tr::kTileBytes + 2 * kMaskBytes;
  static constexpr std::size_t kSmemBytes = kBarrierOffset + 10 * 8 + 2 * 4 + 4 * 8 + 1024;
  static_assert(kBarrierOffset % 8 == 0, "mbarriers are 8-byte aligned");
};

// q_map, k_map, v_map: Q [batch * heads][seq_q][D], K and V [batch * kv_heads][seq_k][D] in boxes of
// kBM (Q) or BN rows by 64 columns (make_swizzled_tile_map).
// kTurns: the consumers take turns at the tensor cores (consumer_turn_wait; block masks only).
template <class T, int D, int BN, class Keys, bool kTurns>
__global__ void __launch_bounds__(kWsThreads, 1)
    attention_wgmma_ws_kernel(AttentionArgs a, AttentionSchedule sched, typename Keys::Args mask,
                              const __grid_constant__ CUtensorMap q_map, const __grid_constant__ CUtensorMap k_map,
                              const __grid_constant__ CUtensorMap v_map) {
  static_assert(Keys::kSkip || !Keys::kBlockMask, "DenseKeys or SparseKeys");
  static_assert(!kTurns || Keys::kBlockMask, "turns for block masks only (dense measured slower with them)");
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using Ws = WsTraits<T, D, BN>;
  using Tr = typename Ws::Tr;
  constexpr int kBM = Tr::kBM, kProducers = 128;
  extern __shared__ unsigned char smem_raw[];
  const std::uint32_t q_s = (smem_address(smem_raw) + 1023u) & ~1023u;
  const std::uint32_t k_s = q_s + Tr::kQBytes;
  const std::uint32_t v_s = k_s + 2 * Tr::kTileBytes;
  const std::uint32_t m_s = v_s + 2 * Tr::kTileBytes;
  const std::uint32_t bars = q_s + static_cast<std::uint32_t>(Ws::kBarrierOffset);
  // K (with a partial block's bytes) and V of a ring buffer have barriers of their own: K is free
  // once S is done, V once P V is, a step later in the overlapped loop.
  auto k_full = [&](int buf) { return bars + 8 * buf; };
  auto k_empty = [&](int buf) { return bars + 16 + 8 * buf; };
  auto v_full = [&](int buf) { return bars + 88 + 8 * buf; };
  auto v_empty = [&](int buf) { return bars + 104 + 8 * buf; };
  const std::uint32_t q_full = bars + 32, q_empty = bars + 40;
  auto slot_full = [&](int u) { return bars + 48 + 8 * (u & 1); };
  auto slot_empty = [&](int u) { return bars + 64 + 8 * (u & 1); };
  volatile int* slots = reinterpret_cast<volatile int*>(smem_raw + (bars + 80 - smem_address(smem_raw)));
  const unsigned items = static_cast<unsigned>(sched.tiles * sched.slices);

  if (threadIdx.x == 0) {
    for (int i = 0; i < 2; ++i) {
      mbarrier_init(k_full(i), kProducers + 1);  // every producer thread's cp.async arrival, and the TMA's
      mbarrier_init(k_empty(i), 256);
      mbarrier_init(v_full(i), 1);  // thread 0's arrival with the TMA's bytes
      mbarrier_init(v_empty(i), 256);
      mbarrier_init(slot_full(i), 1);
      mbarrier_init(slot_empty(i), 256);
    }
    mbarrier_init(q_full, 1);  // thread 0's arrival with the TMA's bytes
    mbarrier_init(q_empty, 256);
    mbarrier_init_fence();
  }
  __syncthreads();

  // The role, warp-uniform by construction (a shuffle of lane 0's value), as setmaxnreg needs.
  const int role = __shfl_sync(0xffffffffu, static_cast<int>(threadIdx.x) / 128, 0);
  if (role == 0) {
    warpgroup_registers_down<kProducerRegisters>();
    int step = 0;  // K/V ring position, over all of this block's tiles
    for (int u = 0;; ++u) {
      // Tile u of this block: thread 0 draws it and every producer thread reads it from the slot.
      if (u >= 2 && threadIdx.x == 0) ws_wait(slot_empty(u), ((u >> 1) - 1) & 1, "slot_empty", u, step);
      // A block's first draw is its own index, with no atomic; the counter numbers the draws after
      // every block's first (a launch makes exactly `items` of them, the last resets it).
      if (threadIdx.x == 0) {
        unsigned item = blockIdx.x;
        if (u > 0) {
          const unsigned counted = atomicAdd(&ws_tiles_drawn, 1u);
          if (counted + 1 == items) atomicExch(&ws_tiles_drawn, 0u);  // the launch's last counted draw
          item = gridDim.x + counted;
        }
        slots[u & 1] = item < items ? ws_tile_item<Keys>(mask, sched, kBM, item) : -1;
        mbarrier_arrive(slot_full(u));  // releases the slot's write to the consumers
      }
      producer_barrier();  // (thread 0 writes this slot again at tile u + 2, past the barrier of u + 1)
      const int item = slots[u & 1];
      if (item < 0) break;
      const AttentionBlock<T, D> blk(a, sched, kBM, item);
      // Q once both consumers have issued (and finished) the last S of the previous tile: thread 0
      // asks the copy engine for its D / 64 column blocks (rows past seq_q arrive as zeros). The
      // first tile's Q goes before its mask row is read, since nothing holds it back; a later
      // tile's after, so that its mask row's read overlaps the wait for the consumers.
      auto load_q = [&] {
        if (threadIdx.x == 0) {
          if (u >= 1) ws_wait(q_empty, (u - 1) & 1, "q_empty", u, step);
          mbarrier_arrive_expect_bytes(q_full, Tr::kQBytes);
#pragma unroll
          for (int cb = 0; cb < D / 64; ++cb)
            tma_load_3d(q_s + cb * kBM * 128, &q_map, 64 * cb, static_cast<int>(blk.i0), static_cast<int>(blk.bh), q_full);
        }
      };
      if (u == 0) load_q();
      // A later tile's Q asked into the L2 as soon as it is drawn: its load waits for the
      // consumers' last S of the tile before, and then finds it there.
      if (u >= 1 && threadIdx.x == 0) {
#pragma unroll
        for (int cb = 0; cb < D / 64; ++cb) tma_prefetch_l2_3d(&q_map, 64 * cb, static_cast<int>(blk.i0), static_cast<int>(blk.bh));
      }
      const MaskRowOf<Keys, BN> mrow(mask, blk.bh, blk.i0);
      const int n_steps = tile_steps<Keys, BN>(blk, mrow);
      // The KV head's plane of K and V (GQA: heads / kv_heads query heads share one).
      const int kv_plane = static_cast<int>(blk.bh / a.heads * a.kv_heads + blk.bh % a.heads / (a.heads / a.kv_heads));
      if (u >= 1) load_q();
      for (int j = 0; j < n_steps; ++j, ++step) {
        const int buf = step & 1;
        const int parity = ((step >> 1) - 1) & 1;  // step - 2's release of the buffer
        if (step >= 2) ws_wait(k_empty(buf), parity, "k_empty", u, step);
        const int kt = step_key_tile<Keys>(mrow, j);
        // K and V by the copy engine (thread 0; keys past seq_k arrive as zeros), a partial block's
        // bytes by every producer thread's cp.async, counted with K.
        if (threadIdx.x == 0) {
          const std::uint32_t k_buf = k_s + buf * Tr::kTileBytes;
          mbarrier_arrive_expect_bytes(k_full(buf), Tr::kTileBytes);
#pragma unroll
          for (int cb = 0; cb < D / 64; ++cb) tma_load_3d(k_buf + cb * BN * 128, &k_map, 64 * cb, kt * BN, kv_plane, k_full(buf));
        }
        if constexpr (Keys::kBlockMask) {
          const int kind = step_kind<Keys>(mrow, j);
          if (kind >= 0) producer_load_mask<kBM, BN>(m_s + buf * Ws::kMaskBytes, mrow.bytes(kind, kt), mrow.block);
        }
        cp_async_arrive_on(k_full(buf));
        if (threadIdx.x == 0) {
          if (step >= 2) ws_wait(v_empty(buf), parity, "v_empty", u, step);
          const std::uint32_t v_buf = v_s + buf * Tr::kTileBytes;
          mbarrier_arrive_expect_bytes(v_full(buf), Tr::kTileBytes);
#pragma unroll
          for (int cb = 0; cb < D / 64; ++cb) tma_load_3d(v_buf + cb * BN * 128, &v_map, 64 * cb, kt * BN, kv_plane, v_full(buf));
        }
      }
    }
    cp_async_commit();  // wait_group counts committed groups only: without this it waited for none
    cp_async_wait<0>();  // no copy outlives its thread
    return;
  }

  warpgroup_registers_up<kConsumerRegisters>();
  const int wg = role - 1, warp = (static_cast<int>(threadIdx.x) / 32) % 4;
  const int lane = static_cast<int>(threadIdx.x) % 32, g = lane >> 2, t = lane & 3;
  const float scale_log2 = a.scale * 1.4426950408889634f;
  const std::uint32_t q_wg = q_s + wg * 64 * 128;
  int step = 0;
  auto open_tile = [&](int u) {  // tile u's item, or -1 at the end
    ws_wait(slot_full(u), (u >> 1) & 1, "slot_full", u, step);
    const int item = slots[u & 1];
    mbarrier_arrive(slot_empty(u));
    return item;
  };
  const std::int64_t diag = a.seq_k - a.seq_q;  // AttentionBlock's, the same for every tile
  // The last step's P V alone after the loop, not beside a dropped S: block masks only. Measured on
  // an H200 for both key policies at 99ba319 against cb0561f in one run, each twice, in turn
  // (results/h200/ws_peel_99ba319af6c9): sparse 0.999-1.029x (seq 8k density 0.1 1.029x, 16k
  // density 0.1 1.018x, window 1024 1.021x, per-head 1.020x, density 1 0.999 / 1.001x); dense
  // attn.wgmma 0.993-0.994x at seq 8k and 16k non-causal (1.019x at 2k causal; 1.014x with 768
  // keys, 0.996x with 8192), so dense keeps the dropped S. (The same peel at f76270d, before the
  // timer's clock rule, measured 0.96-1.03x in runs 7-9% apart: attention_sparse_wgmma.cu.)
  constexpr bool kLastAlone = Keys::kBlockMask;
  auto turn_wait = [&] {
    if constexpr (kTurns) consumer_turn_wait(wg);
  };
  auto turn_pass = [&] {
    if constexpr (kTurns) consumer_turn_pass(wg);
  };
  if (wg == 1) turn_pass();  // consumer 0 takes the first turn
  int item = open_tile(0);
  for (int u = 0; item >= 0; ++u) {
    const WsTile tile = ws_tile<kBM, BN>(a, sched, item);
    const std::int64_t bh = tile.bh, i0 = tile.i0;
    const MaskRowOf<Keys, BN> mrow(mask, bh, i0);
    const int n_steps = Keys::kSkip ? mrow.steps() : tile.key_tiles;
    const std::int64_t lane_row = i0 + 64 * wg + 16 * warp + g;  // this lane's rows: +0 and +8
    auto rows_of = [&](int tile) {
      return TileRows{lane_row, static_cast<std::int64_t>(tile) * BN, a.seq_k, diag, a.causal, t};
    };
    float o[Tr::kNb][Tr::kN / 2] = {};
    float s[BN / 2] = {};
    float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.0f, 0.0f};
    float rescale[2];
    std::uint32_t p[BN / 16][4];
    ws_wait(q_full, u & 1, "q_full", u, step);
    if (n_steps == 0) mbarrier_arrive(q_empty);
    // Step j's ring buffer and its barriers' parity.
    const int step0 = step;
    auto ring = [&](int j) { return (step0 + j) & 1; };
    auto parity = [&](int j) { return ((step0 + j) >> 1) & 1; };
    // S of step j into s (its buffer's K has landed), then its partial tile's bytes, the softmax
    // (rescale: what O must be multiplied by) and K's buffer released.
    auto scores_done = [&](int j, int kt, int kind) {
      if (j == n_steps - 1) mbarrier_arrive(q_empty);  // this tile's last read of Q is done
      if constexpr (Keys::kBlockMask) {
        if (kind >= 0)
          apply_partial_tile<kBM, BN>(s, smem_raw + (m_s - smem_address(smem_raw)) + ring(j) * Ws::kMaskBytes,
                                      64 * wg + 16 * warp + g, 2 * t);
      }
      const bool needs_mask = kind < 0 && attention_tile_needs_mask(a, i0, diag, static_cast<std::int64_t>(kt) * BN, BN);
      softmax_tile<BN>(s, rows_of(kt), needs_mask, scale_log2, row_max, row_sum, rescale);
      mbarrier_arrive(k_empty(ring(j)));
    };
    if (n_steps > 0) {
      const int kt = step_key_tile<Keys>(mrow, 0), kind = step_kind<Keys>(mrow, 0);
      ws_wait(k_full(ring(0)), parity(0), "k_full", u, step0);
      turn_wait();
      issue_scores<Tr, T, D, BN>(s, q_wg, k_s + ring(0) * Tr::kTileBytes);
      turn_pass();
      wgmma_wait<0>();
      wgmma_pin(s);
      scores_done(0, kt, kind);  // O is still 0
      pack_p<T, BN>(p, s);
    }
    // Step j: S of step j + 1 and P V of step j run together on the tensor cores, and step j + 1's
    // softmax runs while P V still does (FlashAttention-3's overlap within a warpgroup).
    // With a block mask the loop stops before the last step, whose P V runs alone after it
    // (kLastAlone); dense, it runs every step, the last beside an S whose scores are dropped. The
    // stop is hidden from the compiler: with j + 1 < n_steps in sight, `more` folds to true and
    // ptxas (CUDA 13.0) schedules the body so that the sparse instances spill 12 bytes.
    int steps_in_loop = n_steps;
    if constexpr (kLastAlone) asm("mov.b32 %0, %1;" : "=r"(steps_in_loop) : "r"(n_steps - 1));
    for (int j = 0; j < steps_in_loop; ++j) {
      const bool more = j + 1 < n_steps;
      int kt = 0, kind = kKeysFull;
      if (more) {
        kt = step_key_tile<Keys>(mrow, j + 1);
        kind = step_kind<Keys>(mrow, j + 1);
        ws_wait(k_full(ring(j + 1)), parity(j + 1), "k_full", u, step0 + j + 1);
      }
      ws_wait(v_full(ring(j)), parity(j), "v_full", u, step0 + j);
      // Dense, issued on the last step too (reading whatever the next K buffer holds; those scores
      // are dropped): with the issue under a branch ptxas cannot count the groups and serializes
      // every wgmma (C7514, attention_wgmma.cuh's overlapped loop).
      turn_wait();
      issue_scores<Tr, T, D, BN>(s, q_wg, k_s + ring(j + 1) * Tr::kTileBytes);
      issue_pv<Tr, T, BN>(o, p, v_s + ring(j) * Tr::kTileBytes);
      turn_pass();
      std::uint32_t p_next[BN / 16][4];
      wgmma_wait<1>();  // S of step j + 1 done; P V of step j may still run
      wgmma_pin(s);
      if (more) {
        scores_done(j + 1, kt, kind);
        pack_p<T, BN>(p_next, s);
      }
      wgmma_wait<0>();
      pin_pv<Tr, BN>(o, p);
      mbarrier_arrive(v_empty(ring(j)));
      if (more) advance_pv<Tr, BN>(o, rescale, p, p_next);
    }
    // The last step's P V alone, under a branch as the first S is, each with its own wait.
    if (kLastAlone && n_steps > 0) {
      const int j = n_steps - 1;
      ws_wait(v_full(ring(j)), parity(j), "v_full", u, step0 + j);
      turn_wait();
      issue_pv<Tr, T, BN>(o, p, v_s + ring(j) * Tr::kTileBytes);
      turn_pass();
      wgmma_wait<0>();
      pin_pv<Tr, BN>(o, p);
      mbarrier_arrive(v_empty(ring(j)));
    }
    step += n_steps;
    // The next tile's slot before this one's stores, so that what the next tile reads first is not
    // behind the stores. (Its mask row's offsets are in L1 already: the producer read them for the
    // tile's loads about two steps before this tile's end. The consumers' own prefetch of them,
    // 371c53b, built the next tile's block beside the live output and spilled 12 bytes.)
    const int next = open_tile(u + 1);
    store_output<T, Tr>(a, o, row_sum, row_max, bh, lane_row, t);
    item = next;
  }
  if (wg == 0) turn_wait();  // consumer 1's last pass, so no barrier is left half met
#endif  // sm_90a: elsewhere the kernel is empty and its launcher refuses to run it
}

// The SM count of the current device: the persistent grid.
inline int current_sm_count() {
  int device = 0, sms = 0;
  cudaGetDevice(&device);
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  return sms > 0 ? sms : 1;
}

// Q, K and V's maps for a launch (TileMapCache: encoded again only when the tensors change). One
// cache an instantiation; launches are issued one at a time, as the draw counter needs.
template <int BM, int BN>
const CUtensorMap* ws_tensor_maps(const AttentionArgs& a) {
  static TileMapCache<3> cache;
  const auto d = static_cast<std::uint64_t>(a.head_dim);
  const auto q_planes = static_cast<std::uint64_t>(a.batch * a.heads), kv_planes = static_cast<std::uint64_t>(a.batch * a.kv_heads);
  const auto seq_q = static_cast<std::uint64_t>(a.seq_q), seq_k = static_cast<std::uint64_t>(a.seq_k);
  return cache.maps({TileMapSpec{a.q, a.elem, q_planes, seq_q, d, BM}, TileMapSpec{a.k, a.elem, kv_planes, seq_k, d, BN},
                     TileMapSpec{a.v, a.elem, kv_planes, seq_k, d, BN}});
}

// One instance of the kernel: one block an SM (at most one a query tile). Causal: tiles are drawn
// every slice's heaviest first (the schedule's tail spans all slices), so the lightest come last
// and even out the end.
template <class T, int D, int BN, class Keys, bool kTurns>
bool launch_ws_instance(const AttentionArgs& a, typename Keys::Args keys, cudaStream_t stream) {
  using Ws = WsTraits<T, D, BN>;
  constexpr auto kernel = attention_wgmma_ws_kernel<T, D, BN, Keys, kTurns>;
  static const bool smem_granted = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                        static_cast<int>(Ws::kSmemBytes)) == cudaSuccess;
  // The consumers' setmaxnreg.inc waits until the block's registers cover 40 + 2 x 232 a lane of a
  // warpgroup: with fewer allotted at launch (a compiler that gave the kernel under 168) it would
  // wait for ever, so such a build refuses to launch instead.
  static const bool registers_fit = [] {
    cudaFuncAttributes f{};
    return cudaFuncGetAttributes(&f, kernel) == cudaSuccess &&
           f.numRegs * kWsThreads >= 128 * kProducerRegisters + 256 * kConsumerRegisters;
  }();
  if (!smem_granted || !registers_fit) return false;
  AttentionSchedule sched = attention_schedule(a, Ws::Tr::kBM, AttentionResidency{}, false);
  if (a.causal) sched.tail = sched.slices;
  const std::int64_t blocks = std::min<std::int64_t>(sched.tiles * sched.slices, current_sm_count());
  if (blocks == 0) return true;  // no query rows: nothing to compute (a grid of 0 blocks cannot launch)
  const CUtensorMap* maps = ws_tensor_maps<Ws::Tr::kBM, BN>(a);  // q, k, v
  if (maps == nullptr) return false;
  if constexpr (Keys::kBlockMask) keys.tail_slices = tail_window_slices(sched.tiles, sched.slices, blocks);
  kernel<<<static_cast<unsigned>(blocks), kWsThreads, Ws::kSmemBytes, stream>>>(a, sched, keys, maps[0], maps[1], maps[2]);
  return true;
}

// turns: the consumers take turns at the tensor cores (the instance with kTurns; block masks only,
// so DenseKeys ignore it).
template <class T, int D, int BN, class Keys>
bool launch_wgmma_ws(const AttentionArgs& a, typename Keys::Args keys, bool turns, cudaStream_t stream) {
  if constexpr (Keys::kBlockMask) {
    if (turns) return launch_ws_instance<T, D, BN, Keys, true>(a, keys, stream);
  }
  return launch_ws_instance<T, D, BN, Keys, false>(a, keys, stream);
}

}  // namespace

}  // namespace fabench

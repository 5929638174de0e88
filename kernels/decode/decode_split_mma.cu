// decode v3 (decode.h): v2's split and combine on tensor cores, fp16 and bf16.
//
// What changes against v2. v2 forms every score with CUDA-core FMAs, converts each K and V element
// to fp32 and reduces each dot product over d/8 lanes by shuffles: about 570 instructions per lane
// per 4 tokens at 4 query rows, which capped it at 3.6 TB/s on an H200 (bf16 d128, 32/8 heads)
// while one query row per KV head (32/32) streamed 4.5 TB/s. Here the group's rows (zero-padded to
// 16) are the A operand of mma.m16n8k16: a warp takes 16 tokens of each 64-token tile, S = Q K^T is
// 2 x d/16 mma with K fragments by ldmatrix, the online softmax runs on the S fragments (a quad
// of lanes per row), and P, rounded to the input type, multiplies V (ldmatrix.trans) from
// registers. K and V arrive by cp.async, 16 bytes per thread, into XOR-swizzled rows so ldmatrix
// reads conflict-free (a bulk copy cannot swizzle); tokens past the split are zero-filled.
//
// Measured on an H200 at b91febf (bf16 d128, 32 query heads over 8, one new token, contiguous,
// clean L2, the same cases and flush for cuDNN through PyTorch):
//   - against v2: batch 16 x 64k 3.63 -> 4.50 TB/s, batch 64 x 32k 3.63 -> 4.59, batch 1 x 8k
//     1.26 -> 1.71 (cuDNN 4.66, 4.66, 1.75).
//   - 3 stages at 2 blocks per SM beat 4 or 6 stages at 1 block per SM by 20-25% (a block's 4
//     warps alone cannot issue the copies and the MMAs fast enough), and 2 stages at 3 blocks
//     per SM by 0-8% except at batch 16 x 64k (+1%).
//   - A trace of globaltimer stamps showed batch 1 x 8k spending 13 us of 25 in the merge of the
//     splits: merging only valid rows, a thread per row for the weights and 8 loads in flight in
//     the last block's sums took it to 19.6 us (cuDNN 19.2).
//   - Skipping the O rescale when no row's maximum moved: +1-2% at large caches.
//   - At 1a3c1ad (H200, scratch A/B): the last block's merge issuing 16 partials and their
//     log-sum-exps at once (decode_merge.cuh): batch 1 x 8k 1702 -> 1768 GB/s, 1 x 32k +2%.
//     L2 hints on the K/V copies do not help: .L2::256B prefetch -8% at large caches (so does an
//     evict-first policy with it), .L2::128B +-0.3%. Splits at batch 1 (splits.csv of
//     results/h200/decode_1a3c1adaa680): 16 instead of the planner's 32 (one block an SM, not two)
//     is 12% faster at 2k, 2% at 8k, and 11-15% slower from 32k; the planner is unchanged.
//   - At 087ac92 (H200, results/h200/decode_087ac922982c): globaltimer stamps (a scratch build
//     at 0406ea4, trace_0406ea47729b.txt there) put batch 1 x 8k's last reads at 10.8 us after the
//     first block's start and the end at 15.9: 1.9 us writing the warps' states to shared memory
//     and merging them (8-way bank conflicts: a warp's rows g = 0..7 were D floats apart), 0.7 us
//     in fence, atomic and fence, 2.3 us in the last block's merge (two rounds of 16 partials).
//     Padded rows written only for the group's rows, one acquire-release arrival (arrive_at) and
//     32 partials in flight from d128: batch 1 x 8k 19.6 -> 17.6 us (1904 GB/s, 1.09x cuDNN's
//     1746 in the same run), 2k 1.05x, 16k 1.08x, 32k 1.04x, 64k 1.01x, 128k 0.99x; batch 16
//     0.94-0.98x and batch 64 x 8k 0.99x as before.
//   - Tried and reverted (d174e98, results/h200/decode_draws_d174e985c618): the splits drawing
//     their tiles after the first kStages from a per-sequence counter (thread 0 a slot ahead), so
//     that splits the memory system serves faster read more. Validated (the [decode] GPU test,
//     compute-sanitizer), but 0.76-0.92x cuDNN where this is 0.94-1.09x: an iteration waits for
//     its draw, an L2 atomic queued behind the stream, and consecutive tiles of a split are no
//     longer neighbours.
//   - Tried and reverted (48c0087, results/h200/decode_rowcopies_f8ad63fda3e1): each warp bringing
//     its own 16 rows of a tile by bulk copies (cp.async.bulk, a lane a row of K or V, 256 bytes,
//     counted on the warp's mbarrier for the stage) into rows padded by 16 bytes for ldmatrix: no
//     block barrier a tile and one copy instruction a lane instead of 16 cp.async. Validated (the
//     [decode] GPU test, memcheck, racecheck, synccheck) but slower everywhere: 0.84-1.00x cuDNN
//     where this version was 0.93-1.08x in the same run (batch 16 x 32k 4236 against 4502 GB/s,
//     batch 1 x 8k 1723 against 1907, paged by 64 alike). Row-sized bulk copies feed the HBM
//     worse than 16-byte cp.async here; cuDNN's decode on this GPU is itself an sm80 kernel
//     (ncu_cudnn.txt in results/h200/decode_087ac922982c: flash_fprop_wmma 16x128x128, 4 warps).
//   - At 88523c6 (H200, results/h200/decode_splits_88523c6f3b50, cuDNN in the same run): fixed
//     splits 1, 2, 4, 8, 16, 32 at batch 16 x 8k and 32k, and 1, 2, 4 at batch 64 x 8k: the
//     planner's choice (2 at batch 16, 1 at batch 64) is the fastest (batch 16 x 8k: 1 split 0.85x
//     cuDNN, 2 0.97x, 4 0.94x, 32 0.76x). cuDNN stays 2-3% ahead at batch 16 (0.97-0.98x from 8k
//     to 128k), where it reads up to 4680 GB/s, above fa-bench's streaming-read calibration (4585).
//   - Tried and reverted (687e8e3, one_barrier_687e8e326378 there): one block barrier a tile (the
//     refill issued after the wait's barrier, into the stage the tile before used, as the
//     multistage GEMMs do). Validated ([decode] GPU test, memcheck, racecheck, synccheck) but no
//     change: 0.97-0.98x cuDNN at batch 16, 1.09x at batch 1 x 8k.
//   - Tried and not merged (4054b2b, branch decode-interleave, results/h200/
//     decode_interleave_4054b2b51713, H200, cuDNN in the same run): split s reading tiles s,
//     s + splits, ... so that a unit's splits read neighbouring tiles at once (cuDNN, one block a
//     query head, reads each KV tile from 4 blocks together, and at 4581 GB/s outruns this
//     version's 4495 at batch 16 x 128k). Validated ([decode] GPU test, memcheck, racecheck) but
//     the same within 0.5% from 32k (batch 16 0.97-0.98x cuDNN either way) and 1.02x at batch 1 x 8k
//     (1.10x cuDNN against 1.08x): the read order is not what cuDNN's extra 2% comes from.
//   - Tried and not merged (3ca2c90, branch decode-l2-prefetch, results/h200/
//     decode_l2_prefetch_3ca2c9055075, H200, cuDNN in the same run): when the whole cache fits the
//     L2, each block asks the rest of its split's K and V into it by one bulk prefetch
//     (cp.async.bulk.prefetch.L2) after its first stages, so that the memory works at full rate
//     from the start. Validated (the [decode] GPU test) but 0.97x at batch 1 x 8k and batch 4 x 2k
//     (34 MB) and 1.00x at 2k and 4k: the stages already keep enough in flight; the ramp of a
//     small read is not the loads' issue. Main in that run: batch 1 x 8k 17.5 us, 1.09x cuDNN.
//   - Tried and not merged (889ab3d, branch decode-tma, results/h200/decode_tma_889ab3d22be8, H200,
//     cuDNN in the same run): each whole tile of a contiguous cache by the copy engine (thread 0,
//     tensor maps of 64 tokens x 64 columns in the 128-byte swizzle, an mbarrier a stage) instead
//     of 16 cp.async a thread. Validated ([decode] GPU test, memcheck, racecheck, synccheck) but
//     3-5% slower wherever two blocks share an SM (batch 16 x 8k 134.8 against 129.9 us), 1.7%
//     faster at batch 1 x 8k; faster (5-7%) only at one split a sequence, which is 0.87x cuDNN.
//     With a tile's K boxes before its V boxes (94a4e73): 8% slower than this version; at six
//     stages and one block an SM (6a4b3d8): 9-12% slower (results/h200/
//     decode_tma_stages_6a4b3d8b5722). The order in which K and V reach the memory matters: the
//     cp.async passes here, two rows of K then two of V a warp, mix them finest.
//   - Tried and not merged (b91bb65, branch decode-chunks, results/h200/
//     decode_chunks_b91bb657a87f, H200, cuDNN in the same run): splits of 32 tiles or more sharing
//     their sequence's tiles in chunks of 8, the next chunk drawn a whole chunk ahead (d174e98's
//     draws waited on each tile's). Validated ([decode] GPU test, memcheck, racecheck, synccheck);
//     1.01x fixed ranges in the same binary at batch 16 x 8k and batch 1 x 128k, 1.00x elsewhere,
//     while that loop's dynamic tile indices cost the fixed ranges 3-7% against this version.
//   - At fc7ec31 (branch decode-lean 056afc3, results/h200/decode_lean_056afc3cfb03, H200, cuDNN
//     in the same run): every tile but a sequence's last copied by two cp.async a row at fixed
//     offsets (no per-row validity, source size or page lookup): 1.01x the version before at two
//     blocks an SM (batch 16 0.97 / 0.99 / 0.995x cuDNN at 8k / 32k / 128k), 1.03x at batch 1 x 8k
//     (17.1 us, 1.12x cuDNN), batch 64 x 8k 1.01x cuDNN; at one split a sequence 1.15x (batch 16 x
//     8k 0.99x cuDNN, faster than the planner's two splits): one block's 4 warps had been issuing
//     the copies' address arithmetic, not waiting on memory.
//   - At 164eec7 (H200, results/h200/decode_floor_164eec728c26, cuDNN in the same run): 1.13x cuDNN
//     at batch 1 x 8k (17.2 against 19.5 us), 0.993-0.999x at batch 16 from 8k. A streaming read of
//     the same 32 MiB takes 11.90 us (calibrate's read_floor_us); stamps of a trace build (b33406b)
//     put the last block's loop end at 9.8 us after the first block's start and the end at 13.2:
//     1.6 us storing the partials and arriving, 1.7 us in the last split's merge. At batch 16 x 8k
//     (one split) the blocks' loops end over 5.5 us (114.9-120.4 us): the memory serves them unevenly.
//   - Tried and not merged (12e23c1, 8ff80bd, results/h200/decode_cluster_12e23c1f7248, H200): a
//     unit's splits as one thread-block cluster merging their partials through distributed shared
//     memory (no global partials, counter or last block). Validated ([decode] GPU test, memcheck,
//     racecheck, synccheck) but at this version's 96 KiB a block the hardware put two of a
//     cluster's blocks on an SM: 0.78x at batch 1 x 128k, 0.93x at 8k; given shared memory for one
//     block an SM, 0.996-1.007x. Also there (322a140): each whole tile's offset computed an
//     iteration before its copies, to take a paged cache's page-table load off the copies' path:
//     0.93x at batch 16 paged by 64.
//   - Tried and not merged (2c4a7b3, abe2ca3, branch decode-ll, results/h200/decode_ll_abe2ca3680e3,
//     H200, main 5f93997 in the same runs): the partials as flagged words (a float and a flag, 8
//     bytes, written and read whole) that the merging block polls and clears, so a split arrives
//     by a relaxed atomic without first waiting for its partial stores to reach the L2. Validated
//     ([decode] GPU test, a test of launches of different plans on one workspace, memcheck,
//     racecheck) but slower wherever a unit has more than 4 splits: batch 1 x 8k 19.3 against
//     17.2 us, 1k 12.5 against 10.8, paged by 64 at 32 splits 24.7 against 17.5, d64 at 64 splits
//     19.2 against 14.1; 1.04x at 4 splits (32 KV heads, 1k). The same flagged words with this
//     version's acquire-release arrival were 0.4 us slower still (batch 1 x 8k 19.8 us): the
//     release costs about 0.4 us, but the last block's merge, which reads every partial through
//     one SM, pays for twice the bytes and for clearing them far more than that.
//   - Tried and not merged (b9ec984, branch decode-deep, results/h200/decode_deep_b9ec9847aa34,
//     H200, main 5f93997 in the same run): the contiguous d128 instance at 6 or 4 stages (160 or
//     96 KiB of copies in flight a block, one block an SM), so that the launch's last blocks,
//     running alone, still keep the memory busy. Validated at 6 ([decode] GPU test, memcheck,
//     racecheck) but no faster: batch 64 x 32 KV heads x 8k 1.004-1.005x, batch 16 0.988-1.001x,
//     batch 64 x 1k 0.91 / 0.95x, batch 1 x 8k 0.81x at 6 stages (1.007x at 4).
//   - What the splits' merge costs (a diagnostic build at 0e0ebd7, no_merge.diff in results/h200/
//     decode_wide_f14f2bf6162b/ab: no arrival and no merge, the partials stored and the output left
//     unwritten; H200, against main in turn, twice; ab_ratios.txt there): 2.5-2.9 us at every batch
//     1 and 4 case (batch 1 x 8k 17.4 -> 14.7 us best of two, 1k 10.2 -> 7.3). cuDNN took 19.0 us
//     at batch 1 x 8k there, so its 1.3x (14.6 us) is out of reach of this loop even with a merge
//     that cost nothing. A merge
//     through distributed shared memory instead cannot be resident there: at one block an SM the
//     H200 holds 7 clusters of 16 and 15 of 8 (results/h200/decode_mixed_plan_ee7f044b3f75), where
//     batch 1's 8 KV heads x 16 splits need 8 of 16 or 16 of 8.
//   - Tried and reverted (590b353, results/h200/decode_ticket_590b353d085c, H200, against main
//     6b3be04 in the same lease, each twice in turn): each split taking a ticket (a relaxed atomic)
//     as its loop ends, its round trip beside the warps' merge; the last keeping its own partial in
//     shared memory and waiting for the others', which they publish by a release reduction that
//     returns nothing. Validated by fa-bench's runs (every row ok), memcheck and racecheck, but its
//     [decode] GPU test had not finished at 100 s (main's takes 82; not looked into) and it was
//     0.4-1.1 us slower on every case with splits: batch 1 x 1k / 8k / 32k / 128k 0.907 / 0.951 /
//     0.976 / 0.996x, batch 4 x 2k 0.958x, paged by 64 at 8k 0.938x, d 64 at 8k 0.933x. Probably
//     (not traced) the splits end so close together that the last one waits for the one before's
//     publication, a round trip more than the acquire-release arrival's.
//   - Since f14f2bf a wide instance (8 warps) where a launch is one block an SM (below).
#include <cuda_runtime.h>

#include <algorithm>

#include "kernels/common/element.cuh"
#include "kernels/common/mma.cuh"
#include "kernels/decode/decode_merge.cuh"
#include "kernels/decode/decode_split_kernels.h"

namespace fabench {

namespace {

constexpr int kWarps = 4;  // the planned instance's warps (one 16-token slice of a tile each)
constexpr int kRows = 16;  // query rows per block: one m16 tile
constexpr int kTokensPerWarp = 16;
constexpr int kTile = kWarps * kTokensPerWarp;  // the planner's tile: splits are whole ones
// The wide instance: 8 warps, tiles of 128 tokens, in one block an SM (192 KiB of stages at d
// 128), for contiguous d 128 launches of at most one block an SM whose splits hold at least
// kWideMinSplitTokens (decode_split_v3_shape; DecodeSplitPlan::wide). Where main's instance runs
// one block of 4 warps an SM, it gives each SM twice the warps to issue the copies and to wait at
// a tile's barrier, and twice the copies in flight (128 KiB). Measured on an H200 (bf16, 32 query
// heads) against the 4-warp instance, each twice in turn with cuDNN over the same plans, best of
// two (results/h200/decode_wide_f14f2bf6162b, `run_figures.py ab`: ab/ at 0e0ebd7, replication/ at
// f14f2bf on another lease):
//   - batch 16 x 8 KV heads (one split, 128 blocks): 1.014-1.015 / 1.007 / 1.001-1.002 / 1.004x at
//     4k / 8k / 32k / 128k in both leases, cuDNN's time over ours then 1.001-1.005x from 8k
//     (0.999-1.001x at 4k); in a third lease's sweep of every case (targets_lease/) 0.986-0.994x
//     from 8k: a tie that leases decide.
//   - more splits: batch 1 x 32k / 64k (2048 / 4096 tokens a split) 1.012-1.016x, batch 4 x 8k
//     1.014x, 32 KV heads batch 1 x 8k 1.010-1.011x; batch 1 x 8k (512 tokens a split) 1.004x
//     and 1k 0.88x (a half-empty tile a split), so shorter splits keep the 4-warp instance.
//   - where the 4-warp instance fits two blocks an SM it is faster: batch 64 x 8 KV heads (512
//     blocks) 0.959-0.990x, 32 KV heads at batch 16 0.98x (at batch 64, 2048 blocks, 1.028x; the
//     rule keeps both on the 4-warp instance).
constexpr int kWideWarps = 8;
constexpr std::int64_t kWideMinSplitTokens = 2048;

// Whether each tile of a cache lies in one run of memory: contiguous, or pages of a tile or more
// (tiles start at multiples of the instance's `tile`). Such tiles take the kernel's whole-tile
// copies (one address a tile), and the planner's one block an SM.
__host__ __device__ constexpr bool tiles_in_one_run(bool paged, int page_size, int tile) {
  return !paged || page_size >= tile;
}

template <class T, int D, int WARPS = kWarps>
struct MmaDecodeTraits {
  static constexpr int kWarps = WARPS;
  static constexpr int kThreads = WARPS * 32;
  static constexpr int kTile = WARPS * kTokensPerWarp;
  static constexpr int kChunks = D / 8;  // 16-byte chunks per row
  static constexpr int kStages = D == 256 ? 2 : 3;  // 4 warps: 2 blocks an SM (the note above); 8: one
  static constexpr int kTileBytes = kTile * D * 2;  // one of K and V
  static constexpr int kStageBytes = 2 * kTileBytes;
  // The warps' states for finish_split, rows kOStride floats apart: a warp's float2 stores of rows
  // g = 0..7 then fall in different banks (D apart they all hit the same ones: 8-way conflicts).
  static constexpr int kOStride = D + 8;
  // Partials a merging thread loads at once: the planner's 32 splits at batch 1 in one round trip
  // from d128 (two blocks an SM by shared memory either way); 16 at d64, where 32 would take the
  // registers of its third and fourth block.
  static constexpr int kMergeBatch = D >= 128 ? 32 : 16;
  static constexpr int kMergeBytes = kWarps * kRows * (kOStride + 2) * 4;
  static constexpr int kCombineBytes = kCombineSmemBytes<kRows, kThreads>;
  static constexpr int kSmemBytes = std::max({kStages * kStageBytes, kMergeBytes, kCombineBytes});
  static_assert(kChunks % 8 == 0, "swizzled rows need a multiple of 8 chunks");
};

template <class T, int D, int WARPS>
__global__ void __launch_bounds__(WARPS * 32) decode_split_mma_kernel(DecodeArgs a, KvRowAddress addr,
                                                                      SplitShape shape, float* part_o,
                                                                      float* part_lse) {
  using Traits = MmaDecodeTraits<T, D, WARPS>;
  constexpr int kChunks = Traits::kChunks, kStages = Traits::kStages;
  constexpr int kThreads = Traits::kThreads, kWarps = Traits::kWarps, kTile = Traits::kTile;
  extern __shared__ __align__(128) unsigned char smem[];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t4 = lane % 4;

  const int split = blockIdx.x;
  const int unit = blockIdx.y * gridDim.z + blockIdx.z;
  const BlockRows rows{blockIdx.y / a.kv_heads, blockIdx.y % a.kv_heads, static_cast<int>(blockIdx.z) * kRows};
  const int q_len = static_cast<int>(a.q_len);
  const int length = a.lengths[rows.b];
  const int begin = split * shape.split_tokens;
  const int end = min(begin + shape.split_tokens, length);
  const int tiles = end > begin ? (end - begin + kTile - 1) / kTile : 0;
  const std::uint32_t smem_base = smem_address(smem);

  // Tile `it` into its stage: a thread per 16-byte chunk of a row, kThreads / kChunks rows a pass;
  // one address per tile where tiles lie in one run, one per row on smaller pages.
  const bool tile_in_one_run = tiles_in_one_run(addr.page_table != nullptr, addr.page_size, kTile);
  auto fetch = [&](int it) {
    const std::uint32_t k_dst = smem_base + (it % kStages) * Traits::kStageBytes;
    const std::uint32_t v_dst = k_dst + Traits::kTileBytes;
    const int c = threadIdx.x % kChunks, first = begin + it * kTile;
    const std::int64_t tile_offset = tile_in_one_run ? addr.offset(rows.b, rows.kvh, first) : 0;
    // A whole tile in one run (tiles_in_one_run; every tile but a sequence's last): rows r0,
    // r0 + kRowsPerPass, ... at fixed offsets from one address each for K, V and the stage, no
    // validity to test: two copies a row. (The general loop below, for the last tile and small pages, computes each
    // row's address, validity and source size.)
    constexpr int kRowsPerPass = kThreads / kChunks;
    if (tile_in_one_run && first + kTile <= end) {
      const int r0 = threadIdx.x / kChunks;
      const T* k_row = static_cast<const T*>(a.k_cache) + tile_offset + r0 * D + c * 8;
      const T* v_row = static_cast<const T*>(a.v_cache) + tile_offset + r0 * D + c * 8;
      const std::uint32_t to0 = swizzle<kChunks>(r0, c);
#pragma unroll
      for (int i = 0; i < kTile / kRowsPerPass; ++i) {
        // Passes of a multiple of 8 rows keep the row's XOR pattern (d 64 and 128): a fixed stride.
        const std::uint32_t to = kRowsPerPass % 8 == 0 ? to0 + i * kRowsPerPass * kChunks * 16
                                                       : swizzle<kChunks>(r0 + i * kRowsPerPass, c);
        cp_async_16_full(k_dst + to, k_row + i * kRowsPerPass * D);
        cp_async_16_full(v_dst + to, v_row + i * kRowsPerPass * D);
      }
      return;
    }
    const T* k_src = static_cast<const T*>(a.k_cache) + c * 8;
    const T* v_src = static_cast<const T*>(a.v_cache) + c * 8;
#pragma unroll 4
    for (int r = threadIdx.x / kChunks; r < kTile; r += kThreads / kChunks) {
      const bool valid = first + r < end;
      const std::int64_t off = !valid ? 0
                               : tile_in_one_run ? tile_offset + static_cast<std::int64_t>(r) * D
                                                 : addr.offset(rows.b, rows.kvh, first + r);
      const std::uint32_t to = swizzle<kChunks>(r, c);
      cp_async_16(k_dst + to, k_src + off, valid);
      cp_async_16(v_dst + to, v_src + off, valid);
    }
  };
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < tiles) fetch(s);
    cp_async_commit();  // empty groups too: the wait below counts groups
  }

  // Q as A fragments (rows g and g + 8 of the block), straight from global memory; rows past the
  // group are zeros. Row r sees tokens t < limit.
  const int out_lo = query_row(a, shape, rows, rows.first_row + g);
  const int out_hi = query_row(a, shape, rows, rows.first_row + g + 8);
  const int limit_lo = out_lo >= 0 ? min(end, length - q_len + (rows.first_row + g) % q_len + 1) : 0;
  const int limit_hi = out_hi >= 0 ? min(end, length - q_len + (rows.first_row + g + 8) % q_len + 1) : 0;
  std::uint32_t q_frag[D / 16][4];
  {
    const std::uint32_t* q_lo = reinterpret_cast<const std::uint32_t*>(static_cast<const T*>(a.q) +
                                                                        static_cast<std::int64_t>(max(out_lo, 0)) * D);
    const std::uint32_t* q_hi = reinterpret_cast<const std::uint32_t*>(static_cast<const T*>(a.q) +
                                                                        static_cast<std::int64_t>(max(out_hi, 0)) * D);
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      q_frag[kk][0] = out_lo >= 0 ? __ldg(q_lo + kk * 8 + t4) : 0u;
      q_frag[kk][1] = out_hi >= 0 ? __ldg(q_hi + kk * 8 + t4) : 0u;
      q_frag[kk][2] = out_lo >= 0 ? __ldg(q_lo + kk * 8 + 4 + t4) : 0u;
      q_frag[kk][3] = out_hi >= 0 ? __ldg(q_hi + kk * 8 + 4 + t4) : 0u;
    }
  }
  const float scale_log2 = a.scale * kLog2e;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};  // rows g, g + 8; l is this lane's share
  float o[D / 8][4];
#pragma unroll
  for (int n = 0; n < D / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;

  for (int it = 0; it < tiles; ++it) {
    if (it + kStages - 1 < tiles) fetch(it + kStages - 1);
    cp_async_commit();
    cp_async_wait<kStages - 1>();  // tile `it` has landed (this thread's part) ...
    __syncthreads();               // ... and every thread's
    const std::uint32_t k_tile = smem_base + (it % kStages) * Traits::kStageBytes;
    const std::uint32_t v_tile = k_tile + Traits::kTileBytes;
    const int row0 = warp * kTokensPerWarp;  // this warp's 16 rows of the tile

    float s[2][4] = {};
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      std::uint32_t k_frag[4];  // tokens 0-7 and 8-15, d chunks 2kk and 2kk + 1
      ldmatrix_x4(k_frag, k_tile + swizzle<kChunks>(row0 + (lane >> 4) * 8 + (lane & 7), 2 * kk + ((lane >> 3) & 1)));
      MmaOp<T>::run(s[0], q_frag[kk], k_frag[0], k_frag[1]);
      MmaOp<T>::run(s[1], q_frag[kk], k_frag[2], k_frag[3]);
    }

    const int first = begin + it * kTile + row0;
    float row_rescale[2];
#pragma unroll
    for (int half = 0; half < 2; ++half) {  // row g (accumulator entries 0, 1), row g + 8 (2, 3)
      const int limit = half ? limit_hi : limit_lo;
      float tile_max = -INFINITY;
#pragma unroll
      for (int j = 0; j < 2; ++j)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          float& x = s[j][2 * half + e];
          x = first + 8 * j + 2 * t4 + e < limit ? x * scale_log2 : -INFINITY;
          tile_max = fmaxf(tile_max, x);
        }
      tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
      tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 2));
      const float m_new = fmaxf(m[half], tile_max);
      const float m_ref = m_new == -INFINITY ? 0.0f : m_new;  // nothing visible yet: p = 0, o stays 0
      const float rescale = exp2f(m[half] - m_ref);
      m[half] = m_new;
      float sum = 0.0f;
#pragma unroll
      for (int j = 0; j < 2; ++j)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          float& x = s[j][2 * half + e];
          x = exp2f(x - m_ref);
          sum += x;
        }
      l[half] = l[half] * rescale + sum;
      row_rescale[half] = rescale;
    }
    // Once the running maxima settle, most tiles change no row's maximum: skip the d/2 multiplies
    // per lane then (the vote keeps the warp together; a factor of 1 is exact).
    if (__any_sync(0xffffffffu, row_rescale[0] != 1.0f || row_rescale[1] != 1.0f)) {
#pragma unroll
      for (int n = 0; n < D / 8; ++n) {
        o[n][0] *= row_rescale[0];
        o[n][1] *= row_rescale[0];
        o[n][2] *= row_rescale[1];
        o[n][3] *= row_rescale[1];
      }
    }

    const std::uint32_t p_frag[4] = {pack2<T>(s[0][0], s[0][1]), pack2<T>(s[0][2], s[0][3]),
                                     pack2<T>(s[1][0], s[1][1]), pack2<T>(s[1][2], s[1][3])};
#pragma unroll
    for (int dp = 0; dp < D / 16; ++dp) {
      std::uint32_t v_frag[4];  // tokens 0-7 and 8-15 of d chunk 2dp, then of chunk 2dp + 1
      const int token = row0 + ((lane >> 3) & 1) * 8 + (lane & 7);
      ldmatrix_x4_trans(v_frag, v_tile + swizzle<kChunks>(token, 2 * dp + (lane >> 4)));
      MmaOp<T>::run(o[2 * dp], p_frag, v_frag[0], v_frag[1]);
      MmaOp<T>::run(o[2 * dp + 1], p_frag, v_frag[2], v_frag[3]);
    }
    __syncthreads();  // every warp is done with the stage before it is refilled
  }
  cp_async_wait<0>();

  // Each warp's state into shared memory for finish_split: o [warp][row][d], then max and sum.
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    l[half] += __shfl_xor_sync(0xffffffffu, l[half], 1);
    l[half] += __shfl_xor_sync(0xffffffffu, l[half], 2);
  }
  // Rows past the group (the zero padding of Q) are not written: finish_split skips them.
  constexpr int kOStride = Traits::kOStride;
  float* group_o = reinterpret_cast<float*>(smem);
  float* group_m = group_o + kWarps * kRows * kOStride;
  float* group_l = group_m + kWarps * kRows;
  const int valid_rows = shape.rows_per_group - rows.first_row;
#pragma unroll
  for (int half = 0; half < 2; ++half)
    if (g + 8 * half < valid_rows)
#pragma unroll
      for (int n = 0; n < D / 8; ++n)
        *reinterpret_cast<float2*>(group_o + (warp * kRows + g + 8 * half) * kOStride + n * 8 + 2 * t4) =
            make_float2(o[n][2 * half], o[n][2 * half + 1]);
  if (t4 == 0)
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      group_m[warp * kRows + g + 8 * half] = m[half];
      group_l[warp * kRows + g + 8 * half] = l[half];
    }
  __syncthreads();
  finish_split<T, D, kRows, kWarps, kThreads, kOStride, Traits::kMergeBatch>(smem, a, shape, rows, split, unit, part_o, part_lse);
}

// Calls f(T{}, Int<D>{}) for the compiled instance; false for fp32 or a head dim not compiled.
template <class F>
bool with_instance(KernelElem elem, std::int64_t head_dim, F&& f) {
  auto by_dim = [&](auto t) {
    switch (head_dim) {
      case 64: f(t, Int<64>{}); return true;
      case 128: f(t, Int<128>{}); return true;
      case 256: f(t, Int<256>{}); return true;
    }
    return false;
  };
  return with_elem16(elem, by_dim);
}

// The instance with its dynamic shared memory granted (once), and its resident blocks per SM.
template <class T, int D, int WARPS = kWarps>
int prepare_instance() {
  using Traits = MmaDecodeTraits<T, D, WARPS>;
  static const int resident = grant_smem_and_count_resident(decode_split_mma_kernel<T, D, WARPS>, Traits::kSmemBytes,
                                                            Traits::kThreads);
  return resident;
}

template <class T, int D, int WARPS>
void launch_instance(const DecodeArgs& a, const DecodeSplitPlan& plan, const KvRowAddress& addr,
                     const SplitShape& shape, float* part_o, float* part_lse, cudaStream_t stream) {
  using Traits = MmaDecodeTraits<T, D, WARPS>;
  prepare_instance<T, D, WARPS>();
  const dim3 grid(plan.splits, static_cast<unsigned>(a.batch * a.kv_heads), plan.row_chunks);
  decode_split_mma_kernel<T, D, WARPS>
      <<<grid, Traits::kThreads, Traits::kSmemBytes, stream>>>(a, addr, shape, part_o, part_lse);
}

}  // namespace

SplitKernelShape decode_split_v3_shape(const DecodeArgs& a) {
  SplitKernelShape shape;
  shape.rows_per_block = kRows;
  shape.tile = kTile;
  shape.compiled = with_instance(a.elem, a.head_dim, [&](auto t, auto d) {
    using Traits = MmaDecodeTraits<decltype(t), decltype(d)::value>;
    shape.resident_blocks = prepare_instance<decltype(t), decltype(d)::value>();
    // Waves of one block an SM where one block keeps 64 KiB of copies in flight (d 128 and 256)
    // and its tiles take the whole-tile copies (contiguous, or pages of a tile or more): at fc7ec31
    // one split a sequence at batch 16 (one block an SM) was 1.004-1.024x the two splits that
    // filled two blocks an SM (0.998-1.000x cuDNN at 8k-128k), batch 1 at 16 splits 0.995-1.010x 32
    // (results/h200/decode_lean_splits_fc7ec31b9172). d 64's blocks keep half that, and smaller
    // pages copy row by row, at which one block an SM was 15% slower than whole-tile copies
    // (results/h200/decode_lean_056afc3cfb03): there, all resident blocks as before. A paged cache
    // fills all resident blocks too, pages of 64 and more included: each tile's page-table load
    // sits before its copies, and a second block an SM hides it. On an H200, page 64 at twice the
    // splits was 1.042x one block an SM at batch 16 x 128k (equal to split_kv's time),
    // 1.012x at 8k, 1.027x at batch 1 x 128k; at batch 64 x 8k both rules give one split (main
    // 5cb3ad7 with forced splits: results/h200/decode_mixed_plan_ee7f044b3f75, paged_splits).
    constexpr int kInFlight = (Traits::kStages - 1) * Traits::kStageBytes;
    const bool contiguous = a.page_size == 0;
    shape.wave_blocks = kInFlight >= 64 * 1024 && contiguous ? 1 : shape.resident_blocks;
    // The wide instance (the note at kWideWarps): contiguous d 128 only, its tiles of 128 tokens
    // straddling pages of 64.
    if constexpr (decltype(d)::value == 128)
      if (contiguous) shape.wide_min_split_tokens = kWideMinSplitTokens;
  });
  return shape;
}

bool decode_split_v3(const DecodeArgs& a, const DecodeSplitPlan& plan, void* workspace, cudaStream_t stream) {
  const KvRowAddress addr = kv_row_address(a.kv_heads, a.max_len, a.head_dim, a.page_table, a.page_size);
  const SplitShape shape = split_shape(a, plan);
  float* part_o = static_cast<float*>(workspace);
  float* part_lse = part_o ? part_o + a.batch * a.heads * a.q_len * plan.splits * a.head_dim : nullptr;
  return with_instance(a.elem, a.head_dim, [&](auto t, auto d) {
    using T = decltype(t);
    constexpr int D = decltype(d)::value;
    if constexpr (D == 128) {
      if (plan.wide && a.page_size == 0) {
        launch_instance<T, D, kWideWarps>(a, plan, addr, shape, part_o, part_lse, stream);
        return;
      }
    }
    launch_instance<T, D, kWarps>(a, plan, addr, shape, part_o, part_lse, stream);
  });
}

}  // namespace fabench

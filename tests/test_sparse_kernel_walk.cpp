// The sparse kernels' walk of a block mask (kernels/attention/attention_mask_row.h, the same code
// the GPU runs), on the host over the layouts the op uploads: for every query tile of every kernel
// tile shape that fits the block (block_m 64/128, block_n 32/64/128), the key tiles a block-skipping
// kernel visits and the mask it applies to each score there (a full block keeps every score that
// exists, a partial one its byte), against SparseMask::keep for every score; every key tile it
// skips keeps nothing; and sparse.masked's walk over all key tiles finds the same kinds.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "helpers.hpp"
#include "kernels/attention/attention_mask_row.h"
#include "kernels/attention/attention_order.h"
#include "ops/sparse_attention.hpp"

using namespace fabench;

namespace {

Problem walk_problem(SparsePattern pattern, std::int64_t sq, std::int64_t sk, std::int64_t block, bool per_head) {
  Problem p = test::attention(2, 2, 1, sq, sk, 64, false, DType::bf16, 13);
  p.op = OpKind::sparse_attention;
  p.pattern = pattern;
  p.block = block;
  p.mask_per_head = per_head;
  p.density = 0.3;
  p.window = 57;
  p.doc_count = 3;
  p.global_tokens = 5;
  return p;
}

// Mismatches between the kernels' walk with block_n BN and query tiles of bm rows, and the mask.
template <int BN>
std::int64_t walk_mismatches(const Problem& p, int bm) {
  const auto mask = sparse_mask_of(p);
  const auto layout = sparse_layout_of(p);
  SparseBlockArgs m;
  m.offsets = layout->offsets.data();
  m.cols = layout->cols.data();
  m.tiles = layout->tiles.data();
  m.partial = layout->partial.empty() ? nullptr : layout->partial.data();
  m.q_blocks = layout->q_blocks;
  m.block = static_cast<int>(p.block);
  m.per_head = p.mask_per_head;
  const int n_tiles = static_cast<int>((p.seq_k + BN - 1) / BN);
  std::int64_t bad = 0;
  for (std::int64_t b = 0; b < p.batch; ++b)
    for (std::int64_t h = 0; h < p.heads; ++h) {
      const std::int64_t bh = b * p.heads + h, mi = mask->index(b, h);
      for (std::int64_t i0 = 0; i0 < p.seq_q; i0 += bm) {
        const MaskRow<BN> row(m, bh, i0);
        std::vector<int> kind_of(static_cast<std::size_t>(n_tiles), kKeysEmpty);
        int previous = -1;
        for (int step = 0; step < row.steps(); ++step) {
          const int kt = row.key_tile(step), kind = row.kind(step);
          if (kt <= previous) ++bad;  // ascending, each once
          previous = kt;
          if (static_cast<std::int64_t>(kt) * BN >= p.seq_k) continue;  // the last block's half past seq_k
          kind_of[static_cast<std::size_t>(kt)] = kind;
          for (int r = 0; r < bm && i0 + r < p.seq_q; ++r)
            for (int c = 0; c < BN && static_cast<std::int64_t>(kt) * BN + c < p.seq_k; ++c) {
              const bool kernel_keeps = kind < 0 || row.bytes(kind, kt)[r * m.block + c] != 0;
              if (kernel_keeps != mask->keep(mi, i0 + r, static_cast<std::int64_t>(kt) * BN + c)) ++bad;
            }
        }
        int cursor = 0;
        for (int kt = 0; kt < n_tiles; ++kt) {
          if (row.kind_of_tile(kt, cursor) != kind_of[static_cast<std::size_t>(kt)]) ++bad;  // sparse.masked's walk
          if (kind_of[static_cast<std::size_t>(kt)] != kKeysEmpty) continue;
          for (int r = 0; r < bm && i0 + r < p.seq_q; ++r)  // a skipped tile keeps nothing
            for (int c = 0; c < BN && static_cast<std::int64_t>(kt) * BN + c < p.seq_k; ++c)
              if (mask->keep(mi, i0 + r, static_cast<std::int64_t>(kt) * BN + c)) ++bad;
        }
      }
    }
  return bad;
}

}  // namespace

TEST_CASE("the sparse kernels' walk of the block lists keeps exactly the mask's scores", "[sparse][kernels]") {
  using S = SparsePattern;
  struct Seq {
    std::int64_t sq, sk;
  };
  for (const Seq seq : {Seq{150, 290}, Seq{333, 130}, Seq{200, 200}})
    for (std::int64_t block : {64, 128})
      for (S pattern : {S::random, S::window, S::causal, S::causal_window, S::documents, S::global_window})
        for (bool per_head : {false, true}) {
          if (per_head && pattern != S::random && pattern != S::documents) continue;
          const Problem p = walk_problem(pattern, seq.sq, seq.sk, block, per_head);
          for (int bm : {64, 128}) {
            if (block % bm != 0) continue;
            INFO(fmt::format("{} block_m {}", p.key(), bm));
            CHECK(walk_mismatches<32>(p, bm) == 0);
            CHECK(walk_mismatches<64>(p, bm) == 0);
            if (block == 128) CHECK(walk_mismatches<128>(p, bm) == 0);
          }
        }
}

// sparse.wgmma v3's draw order: BlockLayout::order lists each mask's query blocks by descending
// entries (ties: the later block first), and heaviest_first_item maps a launch's draws one to one
// onto its items, each slice's heaviest tiles first, a slice at a time but for the last slices'
// window (every window from one slice to all), taken rank by rank across them: ranks found from the
// order never go back, each visits every window slice once, and with one mask the window runs heavy
// to light. The tile a draw reaches, through attention_block_slot and MaskRow::offsets_row as the
// kernel finds it, is the block the order names. It leaves the items alone without an order, with a causal tail, or when
// the tiles do not make whole blocks (seq_q 300 in blocks of 128 and tiles of 64).
TEST_CASE("sparse.wgmma v3 takes each slice's query tiles heaviest first, the last slices' together", "[sparse][kernels]") {
  using S = SparsePattern;
  for (std::int64_t seq_q : {384, 300})
    for (S pattern : {S::random, S::documents, S::window})
      for (bool per_head : {false, true})
        for (std::int64_t block : {64, 128}) {
          if (per_head && pattern == S::window) continue;
          const Problem p = walk_problem(pattern, seq_q, 300, block, per_head);
          const auto layout = sparse_layout_of(p);
          INFO(p.key());
          const std::int64_t masks = layout->masks, qb = layout->q_blocks;
          REQUIRE(layout->order.size() == static_cast<std::size_t>(masks * qb));
          auto entries = [&](std::int64_t m, std::int64_t b) {
            const std::size_t r = static_cast<std::size_t>(m * qb + b);
            return layout->offsets[r + 1] - layout->offsets[r];
          };
          for (std::int64_t m = 0; m < masks; ++m) {
            std::vector<int> seen(static_cast<std::size_t>(qb), 0);
            for (std::int64_t r = 0; r < qb; ++r) {
              const std::int32_t b = layout->order[static_cast<std::size_t>(m * qb + r)];
              REQUIRE((b >= 0 && b < qb));
              ++seen[static_cast<std::size_t>(b)];
              if (r > 0) {
                const std::int32_t before = layout->order[static_cast<std::size_t>(m * qb + r - 1)];
                CHECK((entries(m, before) > entries(m, b) || (entries(m, before) == entries(m, b) && before > b)));
              }
            }
            CHECK(std::count(seen.begin(), seen.end(), 1) == qb);
          }
          SparseBlockArgs args;
          args.offsets = layout->offsets.data();
          args.order = layout->order.data();
          args.q_blocks = qb;
          args.block = static_cast<int>(block);
          args.per_head = per_head;
          const std::int64_t slices = p.batch * p.heads;
          for (int bm : {64, 128}) {
            if (block % bm != 0) continue;
            const std::int64_t tiles = (p.seq_q + bm - 1) / bm, items = tiles * slices, sub = block / bm;
            const bool ordered = tiles == qb * sub;
            if (seq_q == 384 || bm == block) CHECK(ordered);
            // A query tile's rank in its slice's draws, found from the order (not from the mapping).
            auto rank_of = [&](std::int64_t mask, std::int64_t i0) {
              const std::int32_t* o = layout->order.data() + mask * qb;
              return (std::find(o, o + qb, static_cast<std::int32_t>(i0 / block)) - o) * sub + i0 % block / bm;
            };
            for (std::int32_t window = 1; window <= slices; ++window) {  // every window, 1 the old order
              INFO("tiles " << tiles << ", window " << window);
              args.tail_slices = window;
              const std::int64_t first = (slices - window) * tiles;
              std::vector<int> hit(static_cast<std::size_t>(items), 0);
              std::vector<std::int64_t> rank_slices;  // the window's slices seen at the current rank
              std::int64_t entries_before = 0, rank_before = 0;
              for (std::int64_t d = 0; d < items; ++d) {
                const std::int64_t item = heaviest_first_item(args, d, tiles, slices, 1, bm);
                REQUIRE((item >= 0 && item < items));
                ++hit[static_cast<std::size_t>(item)];
                if (!ordered) {
                  CHECK(item == d);
                  continue;
                }
                const BlockSlot slot = attention_block_slot(item, tiles, slices, 1);
                const std::int64_t i0 = (tiles - 1 - slot.tile_from_last) * bm;
                const std::int64_t mask = per_head ? slot.slice : 0, rank = rank_of(mask, i0);
                REQUIRE(rank < tiles);
                const std::int64_t row = MaskRow<64>::offsets_row(args, slot.slice, i0);
                CHECK(row == mask * qb + layout->order[static_cast<std::size_t>(mask * qb + rank / sub)]);
                if (d < first) {  // before the window: a slice at a time, its heaviest first
                  CHECK(slot.slice == d / tiles);
                  CHECK(rank == d % tiles);
                  continue;
                }
                // In the window: ranks never go back, and each rank visits every window slice once.
                CHECK(slot.slice >= slices - window);
                if (d > first) CHECK(rank >= rank_before);
                if (d == first || rank != rank_before) {
                  if (d > first) CHECK(static_cast<std::int64_t>(rank_slices.size()) == window);
                  rank_slices.clear();
                }
                CHECK(std::find(rank_slices.begin(), rank_slices.end(), slot.slice) == rank_slices.end());
                rank_slices.push_back(slot.slice);
                rank_before = rank;
                // One mask for all slices: the window's draws go from heavy to light across slices.
                const std::int64_t e = entries(mask, row - mask * qb);
                if (!per_head && d > first) CHECK(e <= entries_before);
                entries_before = e;
              }
              CHECK(std::count(hit.begin(), hit.end(), 1) == items);
            }
            CHECK(heaviest_first_item(args, 5, tiles, slices, 2, bm) == 5);  // a causal tail: launch order
          }
          args.order = nullptr;
          CHECK(heaviest_first_item(args, 7, qb, slices, 1, static_cast<int>(block)) == 7);
        }
}

// The tail window: the fewest slices holding kTailWindowBlocks (2) draws a block, 1 to all slices.
TEST_CASE("sparse.wgmma v3's tail window holds two draws a block", "[sparse][kernels]") {
  CHECK(tail_window_slices(64, 32, 132) == 5);    // seq 8k, batch 2 x 16 heads, 132 SMs: 264 draws
  CHECK(tail_window_slices(128, 32, 132) == 3);   // seq 16k
  CHECK(tail_window_slices(64, 2, 132) == 2);     // fewer slices than that: all of them
  CHECK(tail_window_slices(1000, 32, 1) == 1);    // at least one
  CHECK(tail_window_slices(132, 32, 66) == 1);    // exactly one slice's tiles
}

TEST_CASE("sparse.wgmma v3's consumers take turns only where a query block lists few key blocks", "[sparse][kernels]") {
  for (const bool per_head : {false, true}) {
    Problem p = walk_problem(SparsePattern::random, 8192, 8192, 128, per_head);
    const std::int64_t masks = per_head ? p.batch * p.heads : 1;
    const std::int64_t q_blocks = (p.seq_q + p.block - 1) / p.block;
    for (const double density : {0.1, 0.25, 0.5, 1.0}) {
      p.density = density;
      const auto layout = sparse_layout_of(p);
      SparseBlockArgs m;
      m.q_blocks = q_blocks;
      m.per_head = per_head;
      m.entries = static_cast<std::int64_t>(layout->cols.size());
      CHECK(m.entries == static_cast<std::int64_t>(sparse_summary_of(p).cols));
      INFO(fmt::format("density {} per_head {}: {} entries over {} query blocks", density, per_head, m.entries,
                       masks * q_blocks));
      // 64 key blocks a row at density 1: 6.4, 16, 32 and 64 entries on average.
      CHECK(sparse_ws_turns(m, masks) == (density < 1.0));
    }
  }
}

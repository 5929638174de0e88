#pragma once
// The masks of op sparse_attention (pure host code): which (query, key) scores a problem keeps,
// generated from its pattern and seed, classified per (query block, key block) as empty, full or
// partial, and laid out per query block as a compact list of its non-empty key blocks (CSR), which
// the block-skipping GPU variants read.
//
// Every pattern is defined on the bottom-right-aligned diagonal, as attention's causal mask is:
// query row i stands at key position t = i + (seq_k - seq_q). W is `window`, G `global_tokens`.
//   random         blocks of block x block kept at random: exactly round(density * blocks) of the
//                  q_blocks x k_blocks blocks (at least one), chosen by a seeded partial
//                  Fisher-Yates shuffle (block granularity).
//   window         keys [t - W/2, t - W/2 + W): W tokens around the diagonal (W/2 before it).
//   causal         keys [0, t] (attention's causal mask).
//   causal_window  keys [t - W + 1, t]: the W tokens ending at the diagonal (Mistral's window).
//   documents      the keys are packed with documents (given lengths summing to seq_k, or
//                  doc_count seeded random lengths >= 1); t attends to every key of its own document.
//   global_window  the first G tokens are global: a query with t < G sees every key, every query
//                  sees keys [0, G), and otherwise the window above.
//   file           a .npy of 0/1 (read_npy_mask below), at element or block granularity, shared or
//                  with leading [batch, heads] dims.
// Keys outside [0, seq_k) do not exist, so a range is clipped to it; a row may keep nothing (a
// random block row left empty, a query before the keys under causal): its output is zeros and its
// log-sum-exp -inf. Generation uses core/seeded_random.hpp's SplitMix only, so masks are the same on
// every platform and compiler.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/problem.hpp"

namespace fabench {

// Keys [begin, end) of a row.
struct KeyRange {
  std::int64_t begin = 0, end = 0;
};

// A mask file that cannot be used: the message names the file and its problem.
struct MaskFileError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A .npy holding uint8 ('|u1') or bool ('|b1') in C order, every value 0 or 1.
struct NpyMask {
  std::vector<std::int64_t> shape;
  std::vector<std::uint8_t> values;  // row-major, 0 or 1
};
// Throws MaskFileError: not a .npy, truncated header or data, bytes after the data, wrong dtype,
// Fortran order, a value not 0 or 1.
NpyMask read_npy_mask(const std::string& path);
// The bytes of a .npy file of `values` with `shape` and dtype descr ("|u1", "|b1"), for tests and
// users who write masks from C++.
std::string npy_bytes(const std::vector<std::int64_t>& shape, const std::vector<std::uint8_t>& values,
                      const std::string& descr = "|u1");

enum class BlockKind : std::uint8_t { empty = 0, full = 1, partial = 2 };

class SparseMask {
 public:
  // The mask of p from its pattern fields, seq_q, seq_k, batch, heads and seed. Throws
  // MaskFileError for a mask file that does not fit p, std::invalid_argument for parameters that
  // make no mask (the op's checks catch those first, with their JSON path).
  explicit SparseMask(const Problem& p);

  std::int64_t seq_q() const { return seq_q_; }
  std::int64_t seq_k() const { return seq_k_; }
  std::int64_t block() const { return block_; }
  std::int64_t q_blocks() const { return (seq_q_ + block_ - 1) / block_; }
  std::int64_t k_blocks() const { return (seq_k_ + block_ - 1) / block_; }
  bool per_head() const { return per_head_; }
  // 1 when shared, batch * heads when per head; mask m of (b, h) is index(b, h).
  std::int64_t count() const { return per_head_ ? batch_ * heads_ : 1; }
  std::int64_t index(std::int64_t b, std::int64_t h) const { return per_head_ ? b * heads_ + h : 0; }

  // The kept keys of query row i of mask m: sorted, disjoint, non-adjacent, non-empty ranges.
  void row(std::int64_t m, std::int64_t i, std::vector<KeyRange>& out) const;
  bool keep(std::int64_t m, std::int64_t i, std::int64_t j) const;

  std::int64_t kept(std::int64_t m) const { return kept_[static_cast<std::size_t>(m)]; }
  // Kept scores over every batch and head (a shared mask counts batch * heads times).
  std::int64_t kept_total() const;
  // kept_total / (batch * heads * seq_q * seq_k): the kept fraction of the full score matrix.
  double density() const;

  // Empty / full / partial for each (query block, key block) of mask m, [q_blocks, k_blocks]
  // row-major. A block is full when every score of it that exists (edge blocks are cut at seq_q
  // and seq_k) is kept.
  std::vector<BlockKind> classify(std::int64_t m) const;

 private:
  enum class Source { ranges, documents, blocks, elements };
  void row_ranges(std::int64_t i, std::vector<KeyRange>& out) const;

  SparsePattern pattern_ = SparsePattern::random;
  Source source_ = Source::ranges;
  std::int64_t batch_ = 1, heads_ = 1, seq_q_ = 0, seq_k_ = 0, block_ = 128;
  std::int64_t window_ = 0, global_ = 0;
  bool per_head_ = false;
  std::vector<std::vector<std::int64_t>> doc_starts_;  // per mask: document starts, then seq_k
  std::vector<std::vector<std::uint8_t>> bits_;        // per mask: blocks [q_blocks, k_blocks] or elements [seq_q, seq_k]
  std::vector<std::int64_t> kept_;
};

// What sparse.block_skip reads: per query block (of every mask, mask-major) the list of its
// non-empty key blocks, ascending, in CSR form, and for partial blocks a block x block byte tile of
// the element mask.
struct BlockLayout {
  std::int64_t masks = 0, q_blocks = 0, k_blocks = 0, block = 0;
  // [masks * q_blocks + 1]: query block r of mask m lists entries offsets[m*q_blocks + r] ..
  // offsets[m*q_blocks + r + 1] - 1.
  std::vector<std::int32_t> offsets;
  std::vector<std::int32_t> cols;   // per entry: the key block index
  std::vector<std::int32_t> tiles;  // per entry: -1 full (no mask arithmetic), else its partial tile
  // [partial tiles, block, block] row-major: tile element (r, c) is 1 when score (qb*block + r,
  // kb*block + c) is kept, 0 otherwise and past seq_q or seq_k.
  std::vector<std::uint8_t> partial;
  // [masks * q_blocks]: per mask, its query blocks by descending entry count (ties: the later block
  // first), the order in which sparse.wgmma v3 takes a slice's query tiles, so that the lightest
  // run last and the last wave ends together.
  std::vector<std::int32_t> order;
  std::int64_t full_blocks() const;
  std::int64_t partial_blocks() const { return static_cast<std::int64_t>(tiles.size()) - full_blocks(); }
};
BlockLayout block_layout(const SparseMask& mask);
// BlockLayout::order from the CSR offsets of `masks` masks of q_blocks rows each.
std::vector<std::int32_t> heaviest_blocks_first(const std::vector<std::int32_t>& offsets, std::int64_t masks,
                                                std::int64_t q_blocks);

// The seeded document lengths of mask m (documents with doc_count), summing to seq_k.
std::vector<std::int64_t> random_document_lengths(std::int64_t count, std::int64_t total, std::uint64_t seed,
                                                  std::int64_t m);

}  // namespace fabench

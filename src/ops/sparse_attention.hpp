#pragma once
// What op sparse_attention shares with its variants: the mask and block layout of a problem, built
// once and kept (a plan asks for them per case: FLOPs, bytes, tensors, columns, the reference).
#include <memory>

#include "core/problem.hpp"
#include "core/sparse_mask.hpp"

namespace fabench {

// The mask of a sparse_attention problem, built on first use and cached by key and seed (and the
// mask file's size and time); throws MaskFileError for a mask file that does not fit.
std::shared_ptr<const SparseMask> sparse_mask_of(const Problem& p);
// Its CSR block lists, partial tiles and query-block order (the tensors block_offsets .. block_order).
std::shared_ptr<const BlockLayout> sparse_layout_of(const Problem& p);

// What planning needs of a mask (FLOPs, bytes, tensor sizes, the density column, the CPU
// variant's limit), kept for every problem seen: a plan, a dry run or a fuzzed config asks about
// the same problems again and again, and a 16k x 16k mask takes a second to build.
struct SparseSummary {
  std::int64_t kept_total = 0;
  double density = 0;
  std::size_t offsets = 0, cols = 0, tiles = 0, partial = 0, order = 0;  // element counts of the layout tensors
  // Milliseconds on the host to build the mask from its pattern and its CSR block lists (once per
  // mask; a kernel launch reuses them, as FlexAttention's create_block_mask is reused): reported
  // apart from the kernel's time, in the column mask_build_ms.
  double build_ms = 0;
};
const SparseSummary& sparse_summary_of(const Problem& p);

}  // namespace fabench

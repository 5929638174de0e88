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
// Its CSR block lists and partial tiles (the tensors block_offsets .. partial_tiles).
std::shared_ptr<const BlockLayout> sparse_layout_of(const Problem& p);

}  // namespace fabench

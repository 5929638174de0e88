#pragma once
// Which compiled tile a tiled attention variant runs for a case: its tile parameters as asked, 0
// meaning chosen (for the dtype, head dim and causality). Shared by attention's and
// sparse_attention's variants, which run the same kernels' tiles.
#include <optional>
#include <string>
#include <vector>

#include "core/variant.hpp"
#include "kernels/attention/attention.h"

namespace fabench {

std::optional<AttentionTile> attention_fa2_mma_tile(const Problem& p, const Params& params);

// A parameter's value, 0 when the case does not set it.
std::int64_t param_or_zero(const Params& params, const char* name);
// Whether tile `t` is what every nonzero tile parameter the variant has asks for (block_m,
// block_n, warps, stages, pipeline); 0, or a parameter the variant lacks, matches any.
bool tile_matches(const AttentionTile& t, const Params& params);
// "compiled (elem, head_dim, block_m, block_n, ...):" and each tile, for `list` and refusals.
std::string tiles_text(const std::vector<AttentionTile>& configs, bool with_warps_stages);

}  // namespace fabench

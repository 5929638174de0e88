#pragma once
// Which compiled tile attn.fa2_mma runs for a case: its tile parameters as asked, 0 meaning
// chosen (for the dtype, head dim and causality).
#include <optional>

#include "core/variant.hpp"
#include "kernels/attention/attention.h"

namespace fabench {

std::optional<AttentionTile> attention_fa2_mma_tile(const Problem& p, const Params& params);

}  // namespace fabench

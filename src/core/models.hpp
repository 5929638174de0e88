#pragma once
// Pieces of the FLOP and byte models that several ops share. Each op's own model is in its file
// under src/ops/ (model_flops and model_bytes in ops/registry.hpp ask it).
#include <cstdint>

namespace fabench {

// Number of unmasked (query, key) pairs of one head under bottom-right-aligned causal masking.
double causal_pairs(std::int64_t seq_q, std::int64_t seq_k);

}  // namespace fabench

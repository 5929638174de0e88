#pragma once
// CPU reference for the attention forward op, accumulating in double.
#include <cstdint>

#include "core/problem.hpp"

namespace fabench {

// Causal masking is aligned to the bottom right: query i sees keys j <= i + (seq_k - seq_q).
// Returns how many keys query i sees (all of them when not causal).
std::int64_t attention_visible_keys(const Problem& p, std::int64_t i);

// One output row O[b, h, i, :] and its natural-log log-sum-exp of the scaled scores.
// q, k, v are whole tensors in [batch, heads or kv_heads, seq, d] layout. GQA: query head h reads
// kv head h / (heads / kv_heads). A query that sees no key gets zeros and lse = -inf.
void attention_reference_row(const Problem& p, const float* q, const float* k, const float* v, std::int64_t b,
                             std::int64_t h, std::int64_t i, double* o_row, double* lse);

}  // namespace fabench

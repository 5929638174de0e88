#pragma once
// CPU reference for the attention forward op, accumulating in double.
#include <cstddef>
#include <cstdint>

#include "core/problem.hpp"
#include "core/sparse_mask.hpp"

namespace fabench {

// Causal masking is aligned to the bottom right: query i sees keys j <= i + (seq_k - seq_q).
// Returns how many keys query i sees (all of them when not causal).
std::int64_t attention_visible_keys(const Problem& p, std::int64_t i);

// One output row O[b, h, i, :] and its natural-log log-sum-exp of the scaled scores.
// q, k, v are whole tensors in [batch, heads or kv_heads, seq, d] layout. GQA: query head h reads
// kv head h / (heads / kv_heads). A query that sees no key gets zeros and lse = -inf.
void attention_reference_row(const Problem& p, const float* q, const float* k, const float* v, std::int64_t b,
                             std::int64_t h, std::int64_t i, double* o_row, double* lse);

// The same row over the keys of `ranges` only (sorted and disjoint, e.g. SparseMask::row): the
// masked reference of sparse_attention. The causal flag is not applied; no kept key gives zeros and
// lse = -inf. attention_reference_row is this over the one range [0, visible keys).
void attention_reference_row(const Problem& p, const float* q, const float* k, const float* v, std::int64_t b,
                             std::int64_t h, std::int64_t i, const KeyRange* ranges, std::size_t range_count,
                             double* o_row, double* lse);

}  // namespace fabench

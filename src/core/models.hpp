#pragma once
// FLOP and byte models: the one place that says how much work and traffic a problem implies.
#include "core/problem.hpp"

namespace fabench {

// Attention forward: 4*B*H*d per unmasked score (QK^T and PV, multiply-add = 2).
// Causal counts only the unmasked scores, so Sq == Sk gives about half.
// softmax_matmul: 2*B*d1*d2*d3 for the product plus softmax's 5 per element of X.
// Softmax: 5 per element (max, subtract, exp, sum, divide); a nominal count, softmax is memory-bound.
double model_flops(const Problem& p);

// The fewest bytes a kernel must move: each input read once, each output written once.
// softmax: input + output + mask (1 byte/element, or 4 bytes/row for lengths);
// attention: Q, K, V, O and the fp32 log-sum-exp per query row; softmax_matmul: X, V and the output.
double model_bytes(const Problem& p);

// Number of unmasked (query, key) pairs of one head under bottom-right-aligned causal masking.
double causal_pairs(std::int64_t seq_q, std::int64_t seq_k);

}  // namespace fabench

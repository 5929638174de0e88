#pragma once
// CPU reference for the attention backward (seed 004, section 2.3.2), accumulating in double:
//   D  = rowsum(dO * O)                    one number per query row
//   P  = exp(scale * Q K^T - lse)          recomputed from the forward's log-sum-exp, never stored
//   dV = P^T dO,  dP = dO V^T,  dS = P * (dP - D),  dQ = scale * dS K,  dK = scale * dS^T Q
// with attention's masking (causal aligned to the bottom right: query i sees keys
// j <= i + seq_k - seq_q) and GQA (query head h reads KV head h / (heads / kv_heads); dK and dV of a
// KV head sum over the query heads of its group).
//
// Row-sampled evaluation keeps validation of large cases affordable: a dQ row needs its query row
// against every visible key; a dK or dV row of key j needs the column j of P and dS over the query
// rows of the group, which needs each of those rows' D and lse: D is computed once for every query
// row (attention_bwd_deltas, O(rows x d)), so a key row costs O(group x seq_q x d).
//
// Templated on the input element (float: the harness's decoded tensors; double: the
// finite-difference tests, which differentiate the forward in float64).
#include <cstdint>
#include <vector>

#include "core/problem.hpp"

namespace fabench {

// The backward's inputs, in attention_bwd_tensors' layouts: q, o, d_o [batch, heads, seq_q, d];
// k, v [batch, kv_heads, seq_k, d]; lse [batch, heads, seq_q]; delta = D per query row, from
// attention_bwd_deltas.
template <class T>
struct AttentionBwdInputs {
  const T *q = nullptr, *k = nullptr, *v = nullptr, *o = nullptr, *d_o = nullptr, *lse = nullptr;
  const double* delta = nullptr;
};

// D = rowsum(dO * O) for every query row [batch, heads, seq_q], in parallel.
template <class T>
std::vector<double> attention_bwd_deltas(const Problem& p, const T* o, const T* d_o);

// dQ[b, h, i, :].
template <class T>
void attention_bwd_dq_row(const Problem& p, const AttentionBwdInputs<T>& in, std::int64_t b, std::int64_t h,
                          std::int64_t i, double* dq);

// dK[b, kv_head, j, :] and dV[b, kv_head, j, :] (either may be null: dV alone needs no dP).
template <class T>
void attention_bwd_key_row(const Problem& p, const AttentionBwdInputs<T>& in, std::int64_t b, std::int64_t kv_head,
                           std::int64_t j, double* dk, double* dv);

// Every dQ, dK and dV, single-threaded (bwd.cpu_reference times it): one pass over the visible
// (query, key) pairs, each pair's P and dS feeding all three.
template <class T>
void attention_bwd_reference(const Problem& p, const AttentionBwdInputs<T>& in, double* dq, double* dk, double* dv);

// The whole forward (O [batch, heads, seq_q, d] and the natural-log lse per query row; a row that
// sees no key gives zeros and -inf), in parallel over blocks of query rows, each block streaming
// the keys once (so K and V are read once per block, not once per row). attention_bwd's inputs O
// and lse are made by it; it agrees with attention_reference_row to rounding.
template <class T>
void attention_forward_reference(const Problem& p, const T* q, const T* k, const T* v, double* o, double* lse);

}  // namespace fabench

#pragma once
// CPU reference for the decode op (new query tokens against a KV cache) and for kv_append,
// accumulating in double. Also the combine of split-KV partial results, on the CPU, which is the
// math the GPU combine kernel implements.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/kv_cache_layout.hpp"

namespace fabench {

// Everything one decode case reads. Per sequence b the cache holds tokens 0..L_b-1 of each kv
// head (L_b = lengths[b]); the last q_len of them are the new tokens, whose queries are
// q [batch, heads, q_len, head_dim]. Query i sees cache tokens j <= L_b - q_len + i: the whole
// cache before the new tokens and, among the new tokens, itself and the earlier ones.
// GQA: query head h reads kv head h / (heads / cache.kv_heads). k and v are laid out by `cache`
// (see KvCacheShape); page_table is read only when the cache is paged.
struct DecodeView {
  const float* q;
  const float* k;
  const float* v;
  const std::int32_t* lengths;
  const std::int32_t* page_table;
  KvCacheShape cache;
  std::int64_t heads, q_len;
  double scale;  // applied as is; the caller decides the default 1/sqrt(head_dim)
};

// How many cache tokens query i of sequence b sees: L_b - q_len + i + 1 (at least 1, since
// L_b >= q_len). They are tokens 0 .. that count - 1.
std::int64_t decode_visible_tokens(const DecodeView& view, std::int64_t b, std::int64_t i);

// One output row O[b, h, i, :] and its natural-log log-sum-exp of the scaled scores over the
// visible tokens. Two passes like attention_reference_row (max, then exp-sum and weighted V),
// so on one sequence it does the same arithmetic as attention_reference_row with
// causal = true, seq_q = q_len, seq_k = L_b.
void decode_reference_row(const DecodeView& view, std::int64_t b, std::int64_t h, std::int64_t i, double* o_row,
                          double* lse);

// The same row restricted to the visible tokens in [token_begin, token_end) (clamped to the
// visible ones): the normalised partial output of one split of the keys and that split's lse.
// An empty range gives zeros and lse = -inf. decode_reference_row is this over every visible token.
void decode_reference_partial_row(const DecodeView& view, std::int64_t b, std::int64_t h, std::int64_t i,
                                  std::int64_t token_begin, std::int64_t token_end, double* o_row, double* lse);

// Sum of L_b: the cache tokens (per kv head) a decode step must read at least once, for the
// byte model (each is head_dim elements of K and of V per kv head).
double decode_kv_tokens_read(const std::int32_t* lengths, std::int64_t batch);

// kv_append: writes the q_len new tokens of each sequence, k_new / v_new [batch, kv_heads, q_len,
// head_dim], into cache slots L_b - q_len .. L_b - 1 (contiguous or paged, as `shape` says).
// Every other cache element is left untouched.
void kv_append_reference(const KvCacheShape& shape, const std::int32_t* lengths, const std::int32_t* page_table,
                         std::int64_t q_len, const float* k_new, const float* v_new, float* k_cache, float* v_cache);

// One split's partial result for a row: its output normalised by its own softmax sum, and its
// lse = m + log(l) (m its max scaled score, l its sum of exp(score - m)). A split that saw no
// token has lse = -inf, and its o is not read (a GPU split may leave it unwritten).
struct PartialRow {
  double lse;
  std::vector<double> o;
};

// Combines the splits of one row into the result over all their tokens:
//   M   = max_s lse_s
//   lse = M + log(sum_s exp(lse_s - M))
//   o   = sum_s exp(lse_s - lse) * o_s
// The weight exp(lse_s - lse) = l_s e^{m_s} / sum_t l_t e^{m_t} turns each split's normalised
// output back into its share of the full softmax; subtracting M first keeps every exp <= 1.
// Splits with lse = -inf are skipped (weight 0, and 0 * an unwritten o could be NaN). When every
// split is empty: o = 0, lse = -inf. o_row has head_dim = each o's size entries.
void combine_partials_by_lse(const std::vector<PartialRow>& parts, std::int64_t head_dim, double* o_row, double* lse);

}  // namespace fabench

#include "reference/decode_reference.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace fabench {

std::int64_t decode_visible_tokens(const DecodeView& view, std::int64_t b, std::int64_t i) {
  return static_cast<std::int64_t>(view.lengths[b]) - view.q_len + i + 1;
}

void decode_reference_partial_row(const DecodeView& view, std::int64_t b, std::int64_t h, std::int64_t i,
                                  std::int64_t token_begin, std::int64_t token_end, double* o_row, double* lse) {
  const std::int64_t d = view.cache.head_dim;
  const std::int64_t kv_head = h / (view.heads / view.cache.kv_heads);
  const float* q_row = view.q + ((b * view.heads + h) * view.q_len + i) * d;
  const std::int64_t visible = decode_visible_tokens(view, b, i);
  const std::int64_t begin = std::clamp<std::int64_t>(token_begin, 0, visible);
  const std::int64_t end = std::clamp<std::int64_t>(token_end, begin, visible);
  for (std::int64_t c = 0; c < d; ++c) o_row[c] = 0.0;
  if (begin == end) {
    *lse = -std::numeric_limits<double>::infinity();
    return;
  }
  // Each token's row is looked up through kv_offset (paged tokens are not adjacent), once here
  // and kept, so the two passes read the same rows.
  std::vector<std::int64_t> rows(static_cast<std::size_t>(end - begin));
  std::vector<double> scores(rows.size());
  double row_max = -std::numeric_limits<double>::infinity();
  for (std::int64_t j = begin; j < end; ++j) {
    const std::size_t n = static_cast<std::size_t>(j - begin);
    rows[n] = kv_offset(view.cache, view.page_table, b, kv_head, j);
    const float* k_row = view.k + rows[n];
    double dot = 0.0;
    for (std::int64_t c = 0; c < d; ++c) dot += static_cast<double>(q_row[c]) * k_row[c];
    scores[n] = view.scale * dot;
    row_max = std::max(row_max, scores[n]);
  }
  double sum = 0.0;
  for (std::size_t n = 0; n < rows.size(); ++n) {
    const double w = std::exp(scores[n] - row_max);
    sum += w;
    const float* v_row = view.v + rows[n];
    for (std::int64_t c = 0; c < d; ++c) o_row[c] += w * v_row[c];
  }
  for (std::int64_t c = 0; c < d; ++c) o_row[c] /= sum;
  *lse = row_max + std::log(sum);
}

void decode_reference_row(const DecodeView& view, std::int64_t b, std::int64_t h, std::int64_t i, double* o_row,
                          double* lse) {
  decode_reference_partial_row(view, b, h, i, 0, decode_visible_tokens(view, b, i), o_row, lse);
}

double decode_kv_tokens_read(const std::int32_t* lengths, std::int64_t batch) {
  double tokens = 0.0;
  for (std::int64_t b = 0; b < batch; ++b) tokens += lengths[b];
  return tokens;
}

void kv_append_reference(const KvCacheShape& shape, const std::int32_t* lengths, const std::int32_t* page_table,
                         std::int64_t q_len, const float* k_new, const float* v_new, float* k_cache, float* v_cache) {
  const std::int64_t d = shape.head_dim;
  const auto row_bytes = static_cast<std::size_t>(d) * sizeof(float);
  for (std::int64_t b = 0; b < shape.batch; ++b) {
    const std::int64_t first = static_cast<std::int64_t>(lengths[b]) - q_len;  // slot of new token 0
    for (std::int64_t kvh = 0; kvh < shape.kv_heads; ++kvh)
      for (std::int64_t n = 0; n < q_len; ++n) {
        const std::int64_t src = ((b * shape.kv_heads + kvh) * q_len + n) * d;
        const std::int64_t dst = kv_offset(shape, page_table, b, kvh, first + n);
        std::memcpy(k_cache + dst, k_new + src, row_bytes);
        std::memcpy(v_cache + dst, v_new + src, row_bytes);
      }
  }
}

void combine_partials_by_lse(const std::vector<PartialRow>& parts, std::int64_t head_dim, double* o_row, double* lse) {
  for (std::int64_t c = 0; c < head_dim; ++c) o_row[c] = 0.0;
  double m = -std::numeric_limits<double>::infinity();
  for (const auto& p : parts) m = std::max(m, p.lse);
  if (std::isinf(m) && m < 0) {  // every split empty
    *lse = m;
    return;
  }
  double sum = 0.0;
  for (const auto& p : parts)
    if (!(std::isinf(p.lse) && p.lse < 0)) sum += std::exp(p.lse - m);
  *lse = m + std::log(sum);
  for (const auto& p : parts) {
    if (std::isinf(p.lse) && p.lse < 0) continue;
    const double w = std::exp(p.lse - *lse);
    for (std::int64_t c = 0; c < head_dim; ++c) o_row[c] += w * p.o[static_cast<std::size_t>(c)];
  }
}

}  // namespace fabench

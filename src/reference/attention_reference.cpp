#include "reference/attention_reference.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace fabench {

std::int64_t attention_visible_keys(const Problem& p, std::int64_t i) {
  if (!p.causal) return p.seq_k;
  return std::clamp<std::int64_t>(i + (p.seq_k - p.seq_q) + 1, 0, p.seq_k);
}

void attention_reference_row(const Problem& p, const float* q, const float* k, const float* v, std::int64_t b,
                             std::int64_t h, std::int64_t i, double* o_row, double* lse) {
  const KeyRange visible{0, attention_visible_keys(p, i)};
  attention_reference_row(p, q, k, v, b, h, i, &visible, visible.end > 0 ? 1 : 0, o_row, lse);
}

// Keys are taken in ascending order, range after range, so the sums run in the order they did
// before masks existed (attention's outputs are unchanged to the bit).
void attention_reference_row(const Problem& p, const float* q, const float* k, const float* v, std::int64_t b,
                             std::int64_t h, std::int64_t i, const KeyRange* ranges, std::size_t range_count,
                             double* o_row, double* lse) {
  const std::int64_t d = p.head_dim;
  const std::int64_t kv_head = h / (p.heads / p.kv_heads);
  const float* q_row = q + ((b * p.heads + h) * p.seq_q + i) * d;
  const float* k_head = k + (b * p.kv_heads + kv_head) * p.seq_k * d;
  const float* v_head = v + (b * p.kv_heads + kv_head) * p.seq_k * d;
  std::int64_t visible = 0;
  for (std::size_t r = 0; r < range_count; ++r) visible += ranges[r].end - ranges[r].begin;
  for (std::int64_t c = 0; c < d; ++c) o_row[c] = 0.0;
  if (visible == 0) {
    *lse = -std::numeric_limits<double>::infinity();
    return;
  }
  const double scale = p.effective_scale();
  std::vector<double> scores(static_cast<std::size_t>(visible));
  double row_max = -std::numeric_limits<double>::infinity();
  std::size_t n = 0;
  for (std::size_t r = 0; r < range_count; ++r)
    for (std::int64_t j = ranges[r].begin; j < ranges[r].end; ++j, ++n) {
      double dot = 0.0;
      for (std::int64_t c = 0; c < d; ++c) dot += static_cast<double>(q_row[c]) * k_head[j * d + c];
      scores[n] = scale * dot;
      row_max = std::max(row_max, scores[n]);
    }
  double sum = 0.0;
  n = 0;
  for (std::size_t r = 0; r < range_count; ++r)
    for (std::int64_t j = ranges[r].begin; j < ranges[r].end; ++j, ++n) {
      double w = std::exp(scores[n] - row_max);
      sum += w;
      for (std::int64_t c = 0; c < d; ++c) o_row[c] += w * v_head[j * d + c];
    }
  for (std::int64_t c = 0; c < d; ++c) o_row[c] /= sum;
  *lse = row_max + std::log(sum);
}

}  // namespace fabench

#include "reference/softmax_reference.hpp"

#include <cmath>
#include <limits>

#include "kernels/common/philox.h"

namespace fabench {

bool softmax_keeps(const Problem& p, std::int64_t r, std::int64_t c, const std::uint8_t* mask_row,
                   std::int32_t length) {
  switch (p.mask) {
    case MaskKind::none: return true;
    case MaskKind::causal: return c <= r % p.cols;
    case MaskKind::tensor: return mask_row[c] != 0;
    case MaskKind::lengths: return c < length;
  }
  return true;
}

void softmax_reference_row(const Problem& p, std::int64_t r, const float* x_row, const std::uint8_t* mask_row,
                           std::int32_t length, double* y_row) {
  const double scale = p.effective_scale();
  double row_max = -std::numeric_limits<double>::infinity();
  for (std::int64_t c = 0; c < p.cols; ++c)
    if (softmax_keeps(p, r, c, mask_row, length)) row_max = std::fmax(row_max, scale * x_row[c]);
  if (std::isinf(row_max) && row_max < 0) {  // nothing kept
    for (std::int64_t c = 0; c < p.cols; ++c) y_row[c] = 0.0;
    return;
  }
  double sum = 0.0;
  for (std::int64_t c = 0; c < p.cols; ++c) {
    double e = softmax_keeps(p, r, c, mask_row, length) ? std::exp(scale * x_row[c] - row_max) : 0.0;
    y_row[c] = e;
    sum += e;
  }
  const std::uint32_t threshold = dropout_threshold(p.dropout);
  const double keep_scale = 1.0 / (1.0 - p.dropout);
  for (std::int64_t c = 0; c < p.cols; ++c) {
    double y = y_row[c] / sum;
    if (p.dropout > 0.0) {
      auto element = static_cast<std::uint64_t>(r) * static_cast<std::uint64_t>(p.cols) + static_cast<std::uint64_t>(c);
      y = dropout_keep(p.seed, element, threshold) ? y * keep_scale : 0.0;
    }
    y_row[c] = y;
  }
}

}  // namespace fabench

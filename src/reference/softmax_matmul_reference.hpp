#pragma once
// CPU reference for softmax(X) @ V, accumulating in double.
#include <cstdint>

#include "core/problem.hpp"

namespace fabench {

// out_row[c] = sum_j softmax(x[b, i, :])_j * v[b, j, c] for c < d3. x: [batch, d1, d2], v: [batch, d2, d3].
void softmax_matmul_reference_row(const Problem& p, const float* x, const float* v, std::int64_t b, std::int64_t i,
                                  double* out_row);

}  // namespace fabench

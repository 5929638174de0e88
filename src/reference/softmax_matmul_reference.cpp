#include "reference/softmax_matmul_reference.hpp"

#include <cmath>
#include <vector>

#include "reference/softmax_reference.hpp"

namespace fabench {

void softmax_matmul_reference_row(const Problem& p, const float* x, const float* v, std::int64_t b, std::int64_t i,
                                  double* out_row) {
  Problem row_problem;  // the softmax part is a plain softmax of one row
  row_problem.op = OpKind::softmax;
  row_problem.rows = 1;
  row_problem.cols = p.cols;
  std::vector<double> prob(static_cast<std::size_t>(p.cols));
  softmax_reference_row(row_problem, 0, x + (b * p.rows + i) * p.cols, nullptr, 0, prob.data());
  const float* v_batch = v + b * p.cols * p.d3;
  for (std::int64_t c = 0; c < p.d3; ++c) out_row[c] = 0.0;
  for (std::int64_t j = 0; j < p.cols; ++j)
    for (std::int64_t c = 0; c < p.d3; ++c) out_row[c] += prob[j] * v_batch[j * p.d3 + c];
}

}  // namespace fabench

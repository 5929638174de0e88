#pragma once
// CPU reference for the softmax op, accumulating in double.
#include <cstdint>

#include "core/problem.hpp"

namespace fabench {

// Whether column c of row r is kept by the problem's mask (mask_row: that row's 0/1 bytes,
// length: that row's valid length; each used only by its own mask kind).
bool softmax_keeps(const Problem& p, std::int64_t r, std::int64_t c, const std::uint8_t* mask_row,
                   std::int32_t length);

// y_row = dropout(softmax(scale * x_row restricted to kept columns)); zeros for a fully masked row.
void softmax_reference_row(const Problem& p, std::int64_t r, const float* x_row, const std::uint8_t* mask_row,
                           std::int32_t length, double* y_row);

}  // namespace fabench

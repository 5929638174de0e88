#pragma once
// Mask and dropout decisions shared by every softmax kernel version.
#include "kernels/common/philox.h"
#include "kernels/softmax/softmax.h"

namespace fabench {

__device__ __forceinline__ bool softmax_kept(const SoftmaxArgs& a, std::int64_t r, std::int64_t c,
                                             std::int32_t row_length) {
  switch (a.mask_kind) {
    case SoftmaxMaskKind::none: return true;
    case SoftmaxMaskKind::causal: return c <= r % a.cols;
    case SoftmaxMaskKind::tensor: return a.mask[r * a.cols + c] != 0;
    case SoftmaxMaskKind::lengths: return c < row_length;
  }
  return true;
}

__device__ __forceinline__ float softmax_dropout(const SoftmaxArgs& a, std::int64_t element, float y) {
  if (a.dropout_threshold == 0) return y;
  return dropout_keep(a.seed, static_cast<std::uint64_t>(element), a.dropout_threshold) ? y * a.keep_scale : 0.0f;
}

}  // namespace fabench

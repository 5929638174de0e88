#pragma once
// Softmax kernels: y = dropout(softmax(scale * x) over kept columns), row-wise over rows x cols.
//
// Versions (each keeps its number and meaning forever; see the .cu file of each for what it measured):
//   v1 softmax_naive: one thread per row, three passes over global memory (max, sum, write).
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/common/kernel_types.h"

namespace fabench {

// Mask kinds, matching the harness's: causal keeps c <= r mod cols; tensor keeps mask[r*cols+c] != 0;
// lengths keeps c < lengths[r]. A row with nothing kept is written as zeros.
enum class SoftmaxMaskKind : int { none = 0, causal = 1, tensor = 2, lengths = 3 };

struct SoftmaxArgs {
  const void* x = nullptr;
  void* y = nullptr;
  const std::uint8_t* mask = nullptr;
  const std::int32_t* lengths = nullptr;
  std::int64_t rows = 0, cols = 0;
  float scale = 1.0f;
  SoftmaxMaskKind mask_kind = SoftmaxMaskKind::none;
  // Dropout: element i = r*cols + c is dropped when its Philox bits < dropout_threshold (philox.h);
  // kept elements are multiplied by keep_scale = 1 / (1 - p). Threshold 0 disables dropout.
  std::uint32_t dropout_threshold = 0;
  float keep_scale = 1.0f;
  std::uint64_t seed = 0;
  KernelElem elem = KernelElem::f32;
};

void softmax_naive(const SoftmaxArgs& args, int threads_per_block, cudaStream_t stream);

}  // namespace fabench

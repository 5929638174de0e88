#pragma once
// Softmax kernels: y = dropout(softmax(scale * x) over kept columns), row-wise over rows x cols.
//
// Versions (each keeps its number and meaning forever; see the .cu file of each for what it measured):
//   v1 softmax_naive:  one thread per row, three passes over global memory (max, sum, write).
//   v2 softmax_block:  one block per row, shared-memory tree reductions, three passes.
//   v3 softmax_warp:   one warp per row, the row in registers, shuffle reductions (cols <= 1024).
//   v4 softmax_online: one block per row, max and sum in one online pass, then the write pass.
//   v5 softmax_fused:  16-byte accesses, the row in registers (warp or block per row), scale, mask
//                      and dropout fused; long rows with a mask or dropout streamed through shared
//                      memory by persistent clusters; v4 for rows it cannot hold.
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
void softmax_block(const SoftmaxArgs& args, int block_size, cudaStream_t stream);
void softmax_warp(const SoftmaxArgs& args, int warps_per_block, cudaStream_t stream);
void softmax_online(const SoftmaxArgs& args, int block_size, cudaStream_t stream);

// How v5 runs a shape: threads per row, 16-byte vectors per thread and blocks per row, or
// (on_chip false) v4's online kernel with `reason` saying why. threads_per_row and cluster_blocks
// 0 ask the heuristic; other values (threads 32..1024, cluster 1, 2, 4, 8) are taken as given,
// or on_chip is false when the row does not fit.
struct SoftmaxFusedPlan {
  bool on_chip = false;
  int threads_per_row = 0;
  int items = 0;           // 16-byte vectors per thread
  int cluster_blocks = 1;  // blocks sharing one row (a thread-block cluster) when > 1
  // > 0: the streamed path, this many persistent clusters each taking every stream_clusters-th
  // row through shared memory (long rows with a mask or dropout); 0: one row slice per block.
  int stream_clusters = 0;
  const char* reason = "";
};
// plain: no mask and no dropout (the kernel then holds more of the row per thread).
SoftmaxFusedPlan softmax_fused_plan(std::int64_t rows, std::int64_t cols, KernelElem elem, bool plain,
                                    int threads_per_row, int cluster_blocks, int sm_count);
void softmax_fused(const SoftmaxArgs& args, const SoftmaxFusedPlan& plan, cudaStream_t stream);

}  // namespace fabench

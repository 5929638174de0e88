// softmax v1 (softmax.naive): one thread per row, three passes over global memory.
//
// The textbook starting point (seed 001 task 2): pass 1 finds the row maximum, pass 2 sums
// exp(x - max), pass 3 writes exp(x - max) / sum. Each thread walks its own row, so a warp's 32
// loads hit 32 different rows: uncoalesced, and the row is read three times. Only large row counts
// fill the GPU. Every later version is measured against this one.
#include "kernels/common/element.cuh"
#include "kernels/softmax/softmax.h"
#include "kernels/softmax/softmax_mask.cuh"

namespace fabench {

namespace {

template <class T>
__global__ void softmax_v1_kernel(SoftmaxArgs a) {
  const std::int64_t r = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= a.rows) return;
  const T* x = static_cast<const T*>(a.x) + r * a.cols;
  T* y = static_cast<T*>(a.y) + r * a.cols;
  const std::int32_t length = a.mask_kind == SoftmaxMaskKind::lengths ? a.lengths[r] : 0;

  float row_max = -INFINITY;
  for (std::int64_t c = 0; c < a.cols; ++c)
    if (softmax_kept(a, r, c, length)) row_max = fmaxf(row_max, a.scale * to_float(x[c]));
  if (row_max == -INFINITY) {  // nothing kept: zeros, never NaN
    for (std::int64_t c = 0; c < a.cols; ++c) y[c] = from_float<T>(0.0f);
    return;
  }
  float sum = 0.0f;
  for (std::int64_t c = 0; c < a.cols; ++c)
    if (softmax_kept(a, r, c, length)) sum += __expf(a.scale * to_float(x[c]) - row_max);
  const float inv_sum = 1.0f / sum;
  for (std::int64_t c = 0; c < a.cols; ++c) {
    float v = softmax_kept(a, r, c, length) ? __expf(a.scale * to_float(x[c]) - row_max) * inv_sum : 0.0f;
    y[c] = from_float<T>(softmax_dropout(a, r * a.cols + c, v));
  }
}

}  // namespace

void softmax_naive(const SoftmaxArgs& args, int threads_per_block, cudaStream_t stream) {
  const auto blocks = static_cast<unsigned>((args.rows + threads_per_block - 1) / threads_per_block);
  FA_DISPATCH_ELEM(args.elem, softmax_v1_kernel<T><<<blocks, threads_per_block, 0, stream>>>(args));
}

}  // namespace fabench

// softmax v4 (softmax.online): one block per row, a single pass for max and sum together.
//
// Against v2: the running maximum and the sum of exponentials are computed in the same pass
// (Milakov & Gimelshein, "Online normalizer calculation for softmax", 2018): when a larger value
// arrives the sum so far is rescaled by exp(old_max - new_max). Per-thread (max, sum) pairs merge
// exactly across the warp and the block. Two passes over the row instead of three, and no limit on
// row length: it is also the fallback of softmax.fused for rows it cannot hold on chip.
#include "kernels/common/element.cuh"
#include "kernels/common/reduce.cuh"
#include "kernels/softmax/softmax.h"
#include "kernels/softmax/softmax_mask.cuh"

namespace fabench {

namespace {

template <class T, int THREADS>
__global__ void __launch_bounds__(THREADS) softmax_v4_kernel(SoftmaxArgs a) {
  __shared__ MaxSum scratch[32];
  const std::int64_t r = blockIdx.x;
  const T* x = static_cast<const T*>(a.x) + r * a.cols;
  T* y = static_cast<T*>(a.y) + r * a.cols;
  const std::int32_t length = a.mask_kind == SoftmaxMaskKind::lengths ? a.lengths[r] : 0;

  MaxSum local;
  for (std::int64_t c = threadIdx.x; c < a.cols; c += THREADS) {
    if (!softmax_kept(a, r, c, length)) continue;
    const float v = a.scale * to_float(x[c]);
    if (v > local.max) {
      local.sum = local.sum * __expf(local.max - v) + 1.0f;
      local.max = v;
    } else {
      local.sum += __expf(v - local.max);
    }
  }
  const MaxSum row = block_allreduce<THREADS>(local, MaxSumOp<>{}, scratch);
  const float inv_sum = row.sum > 0.0f ? 1.0f / row.sum : 0.0f;
  for (std::int64_t c = threadIdx.x; c < a.cols; c += THREADS) {
    const float v = (row.sum > 0.0f && softmax_kept(a, r, c, length)) ? __expf(a.scale * to_float(x[c]) - row.max) * inv_sum : 0.0f;
    y[c] = from_float<T>(softmax_dropout(a, r * a.cols + c, v));
  }
}

template <class T>
void launch_v4(const SoftmaxArgs& a, int threads, cudaStream_t s) {
  const auto blocks = static_cast<unsigned>(a.rows);
  switch (threads) {
    case 128: softmax_v4_kernel<T, 128><<<blocks, 128, 0, s>>>(a); break;
    case 256: softmax_v4_kernel<T, 256><<<blocks, 256, 0, s>>>(a); break;
    case 512: softmax_v4_kernel<T, 512><<<blocks, 512, 0, s>>>(a); break;
    default: softmax_v4_kernel<T, 1024><<<blocks, 1024, 0, s>>>(a); break;
  }
}

}  // namespace

void softmax_online(const SoftmaxArgs& args, int block_size, cudaStream_t stream) {
  FA_DISPATCH_ELEM(args.elem, launch_v4<T>(args, block_size, stream));
}

}  // namespace fabench

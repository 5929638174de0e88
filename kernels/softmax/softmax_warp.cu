// softmax v3 (softmax.warp): one warp per row, the row held in registers, shuffle reductions.
//
// Against v2: the row is read from global memory once and kept in registers (lane l holds
// columns l, l+32, ...), so max, sum and the write all work on registers: one read and one write
// per element. Reductions are five butterfly shuffles, no shared memory, no barriers. Limited to
// rows of at most 1024 columns (32 per lane); loads are 4 or 2 bytes wide, not yet 16.
#include "kernels/common/element.cuh"
#include "kernels/common/reduce.cuh"
#include "kernels/softmax/softmax.h"
#include "kernels/softmax/softmax_mask.cuh"

namespace fabench {

namespace {

template <class T, int ITEMS>
__global__ void softmax_v3_kernel(SoftmaxArgs a) {
  const std::int64_t r = static_cast<std::int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (r >= a.rows) return;  // whole warps leave together: no block barrier below
  const T* x = static_cast<const T*>(a.x) + r * a.cols;
  T* y = static_cast<T*>(a.y) + r * a.cols;
  const std::int32_t length = a.mask_kind == SoftmaxMaskKind::lengths ? a.lengths[r] : 0;

  float v[ITEMS];
  float row_max = -INFINITY;
#pragma unroll
  for (int i = 0; i < ITEMS; ++i) {
    const std::int64_t c = lane + 32 * i;
    v[i] = (c < a.cols && softmax_kept(a, r, c, length)) ? a.scale * to_float(x[c]) : -INFINITY;
    row_max = fmaxf(row_max, v[i]);
  }
  row_max = warp_max(row_max);
  float sum = 0.0f;
#pragma unroll
  for (int i = 0; i < ITEMS; ++i) {
    v[i] = row_max == -INFINITY ? 0.0f : __expf(v[i] - row_max);  // masked: exp(-inf) = 0
    sum += v[i];
  }
  sum = warp_sum(sum);
  const float inv_sum = sum > 0.0f ? 1.0f / sum : 0.0f;  // a fully masked row writes zeros
#pragma unroll
  for (int i = 0; i < ITEMS; ++i) {
    const std::int64_t c = lane + 32 * i;
    if (c < a.cols) y[c] = from_float<T>(softmax_dropout(a, r * a.cols + c, v[i] * inv_sum));
  }
}

template <class T>
void launch_v3(const SoftmaxArgs& a, int warps_per_block, cudaStream_t stream) {
  const auto blocks = static_cast<unsigned>((a.rows + warps_per_block - 1) / warps_per_block);
  const int threads = 32 * warps_per_block;
  const std::int64_t per_lane = (a.cols + 31) / 32;
  if (per_lane <= 1) softmax_v3_kernel<T, 1><<<blocks, threads, 0, stream>>>(a);
  else if (per_lane <= 2) softmax_v3_kernel<T, 2><<<blocks, threads, 0, stream>>>(a);
  else if (per_lane <= 4) softmax_v3_kernel<T, 4><<<blocks, threads, 0, stream>>>(a);
  else if (per_lane <= 8) softmax_v3_kernel<T, 8><<<blocks, threads, 0, stream>>>(a);
  else if (per_lane <= 16) softmax_v3_kernel<T, 16><<<blocks, threads, 0, stream>>>(a);
  else softmax_v3_kernel<T, 32><<<blocks, threads, 0, stream>>>(a);
}

}  // namespace

void softmax_warp(const SoftmaxArgs& args, int warps_per_block, cudaStream_t stream) {
  FA_DISPATCH_ELEM(args.elem, launch_v3<T>(args, warps_per_block, stream));
}

}  // namespace fabench

// softmax v5 (softmax.fused): scale, mask and dropout in one pass over memory, the row on chip.
//
// Against v3/v4: every access is 16 bytes (float4, or 8 halves), each thread issues all of its
// loads before the first use (the row sits in registers: ITEMS vectors per thread), the log2(e)
// of exp is folded into the scale so exp is one exp2f, and the mask and dropout are applied in
// registers: one read of x (and of the mask), one write of y. Rows go to a warp (up to 1024
// fp32 columns), or a block of 128..1024 threads (up to 32768 fp32 columns); more threads per row
// are used when rows are too few to fill the GPU. Rows whose columns are not a multiple of the
// vector width, or too long for one block's registers, run v4's two-pass online kernel.
#include "kernels/common/element.cuh"
#include "kernels/common/reduce.cuh"
#include "kernels/softmax/softmax.h"
#include "kernels/softmax/softmax_mask.cuh"

namespace fabench {

namespace {

constexpr float kLog2e = 1.4426950408889634f;

template <class T>
struct Vec16 {
  static constexpr int kElems = 16 / sizeof(T);
  T v[kElems];
};

// Masked flags for kElems consecutive columns starting at c (c a multiple of kElems).
template <int N>
__device__ __forceinline__ void kept_flags(const SoftmaxArgs& a, std::int64_t r, std::int64_t c, std::int32_t length,
                                           bool (&keep)[N]) {
  switch (a.mask_kind) {
    case SoftmaxMaskKind::none:
#pragma unroll
      for (int e = 0; e < N; ++e) keep[e] = true;
      break;
    case SoftmaxMaskKind::causal: {
      const std::int64_t last = r % a.cols;
#pragma unroll
      for (int e = 0; e < N; ++e) keep[e] = c + e <= last;
      break;
    }
    case SoftmaxMaskKind::lengths:
#pragma unroll
      for (int e = 0; e < N; ++e) keep[e] = c + e < length;
      break;
    case SoftmaxMaskKind::tensor: {
      // N bytes of mask, aligned because cols and c are multiples of N.
      const std::uint8_t* m = a.mask + r * a.cols + c;
      if constexpr (N == 4) {
        const uchar4 b = *reinterpret_cast<const uchar4*>(m);
        keep[0] = b.x, keep[1] = b.y, keep[2] = b.z, keep[3] = b.w;
      } else {
        const uint2 b = *reinterpret_cast<const uint2*>(m);
#pragma unroll
        for (int e = 0; e < 4; ++e) keep[e] = (b.x >> (8 * e)) & 0xffu, keep[4 + e] = (b.y >> (8 * e)) & 0xffu;
      }
      break;
    }
  }
}

template <class T, int TPR, int ITEMS>
__global__ void __launch_bounds__(TPR < 128 ? 128 : TPR) softmax_v5_kernel(SoftmaxArgs a) {
  using V = Vec16<T>;
  constexpr int E = V::kElems;
  constexpr int kRowsPerBlock = TPR < 128 ? 128 / TPR : 1;
  __shared__ float scratch[32];
  const int t = threadIdx.x % TPR;
  const std::int64_t r = static_cast<std::int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / TPR;
  // With several rows per block the reductions are warp-only (TPR == 32), so leaving is safe.
  if (r >= a.rows) return;
  const V* x = reinterpret_cast<const V*>(static_cast<const T*>(a.x) + r * a.cols);
  V* y = reinterpret_cast<V*>(static_cast<T*>(a.y) + r * a.cols);
  const int vectors = static_cast<int>(a.cols / E);  // < 2^31: the plan checks cols
  const std::int32_t length = a.mask_kind == SoftmaxMaskKind::lengths ? a.lengths[r] : 0;
  const float scale = a.scale * kLog2e;

  float v[ITEMS][E];
  V raw[ITEMS];
#pragma unroll
  for (int i = 0; i < ITEMS; ++i) {  // all loads in flight before any use
    const int k = t + i * TPR;
    if (k < vectors) raw[i] = x[k];
  }
  float row_max = -INFINITY;
#pragma unroll
  for (int i = 0; i < ITEMS; ++i) {
    const int k = t + i * TPR;
    bool keep[E];
    if (k < vectors) kept_flags(a, r, static_cast<std::int64_t>(k) * E, length, keep);
#pragma unroll
    for (int e = 0; e < E; ++e) {
      v[i][e] = (k < vectors && keep[e]) ? scale * to_float(raw[i].v[e]) : -INFINITY;
      row_max = fmaxf(row_max, v[i][e]);
    }
  }
  row_max = block_allreduce<TPR>(row_max, MaxOp{}, scratch);
  float sum = 0.0f;
#pragma unroll
  for (int i = 0; i < ITEMS; ++i)
#pragma unroll
    for (int e = 0; e < E; ++e) {
      v[i][e] = row_max == -INFINITY ? 0.0f : exp2f(v[i][e] - row_max);
      sum += v[i][e];
    }
  sum = block_allreduce<TPR>(sum, SumOp{}, scratch);
  const float inv_sum = sum > 0.0f ? 1.0f / sum : 0.0f;
#pragma unroll
  for (int i = 0; i < ITEMS; ++i) {
    const int k = t + i * TPR;
    if (k >= vectors) continue;
    V out;
    const std::uint64_t first = static_cast<std::uint64_t>(r * a.cols) + static_cast<std::uint64_t>(k) * E;
#pragma unroll
    for (int q = 0; q < E; q += 4) {  // one Philox call covers 4 elements
      Philox4 bits{};
      if (a.dropout_threshold) bits = philox4x32_10((first + q) >> 2, a.seed);
#pragma unroll
      for (int e = q; e < q + 4; ++e) {
        float o = v[i][e] * inv_sum;
        if (a.dropout_threshold) o = bits.x[e - q] >= a.dropout_threshold ? o * a.keep_scale : 0.0f;
        out.v[e] = from_float<T>(o);
      }
    }
    y[k] = out;
  }
}

template <class T, int TPR>
void launch_v5_items(const SoftmaxArgs& a, int items, cudaStream_t s) {
  constexpr int kRowsPerBlock = TPR < 128 ? 128 / TPR : 1;
  const auto blocks = static_cast<unsigned>((a.rows + kRowsPerBlock - 1) / kRowsPerBlock);
  const int threads = TPR * kRowsPerBlock;
  switch (items) {
    case 1: softmax_v5_kernel<T, TPR, 1><<<blocks, threads, 0, s>>>(a); break;
    case 2: softmax_v5_kernel<T, TPR, 2><<<blocks, threads, 0, s>>>(a); break;
    case 4: softmax_v5_kernel<T, TPR, 4><<<blocks, threads, 0, s>>>(a); break;
    case 8:
      // 64 registers a thread at 1024 threads: 8 vectors of 8 halves (64 floats) would spill.
      if constexpr (!(TPR == 1024 && sizeof(T) == 2)) softmax_v5_kernel<T, TPR, 8><<<blocks, threads, 0, s>>>(a);
      break;
  }
}

template <class T>
void launch_v5(const SoftmaxArgs& a, const SoftmaxFusedPlan& plan, cudaStream_t s) {
  switch (plan.threads_per_row) {
    case 32: launch_v5_items<T, 32>(a, plan.items, s); break;
    case 128: launch_v5_items<T, 128>(a, plan.items, s); break;
    case 256: launch_v5_items<T, 256>(a, plan.items, s); break;
    case 1024: launch_v5_items<T, 1024>(a, plan.items, s); break;
  }
}

constexpr int kThreadChoices[] = {32, 128, 256, 1024};

int max_items(int threads_per_row, KernelElem elem) {
  return threads_per_row == 1024 && elem != KernelElem::f32 ? 4 : 8;
}

int next_pow2(std::int64_t n) {
  int p = 1;
  while (p < n) p *= 2;
  return p;
}

}  // namespace

SoftmaxFusedPlan softmax_fused_plan(std::int64_t rows, std::int64_t cols, KernelElem elem, int threads_per_row,
                                    int sm_count) {
  SoftmaxFusedPlan plan;
  const int e = elem == KernelElem::f32 ? 4 : 8;
  if (cols % e != 0) {
    plan.reason = "cols not a multiple of the 16-byte vector width";
    return plan;  // register path impossible: v4 fallback
  }
  const std::int64_t vectors = cols / e;
  auto fits = [&](int tpr) { return vectors <= static_cast<std::int64_t>(tpr) * max_items(tpr, elem); };
  if (threads_per_row != 0) {
    if (!fits(threads_per_row)) {
      plan.reason = "row longer than threads_per_row x 8 vectors of 16 bytes";
      return plan;
    }
    plan.threads_per_row = threads_per_row;
  } else {
    // The fewest threads that hold the row; then more while the GPU would be under-filled
    // (fewer than 2 resident threads' worth of rows per SM slot) and every thread keeps work.
    for (int tpr : kThreadChoices)
      if (fits(tpr)) {
        plan.threads_per_row = tpr;
        break;
      }
    if (plan.threads_per_row == 0) {
      plan.reason = "row longer than one block holds in registers";
      return plan;
    }
    const std::int64_t target_threads = static_cast<std::int64_t>(sm_count) * 2048;
    for (int tpr : kThreadChoices)
      if (tpr > plan.threads_per_row && rows * plan.threads_per_row < target_threads && vectors >= tpr)
        plan.threads_per_row = tpr;
  }
  plan.items = next_pow2((vectors + plan.threads_per_row - 1) / plan.threads_per_row);
  plan.on_chip = true;
  return plan;
}

void softmax_fused(const SoftmaxArgs& args, const SoftmaxFusedPlan& plan, cudaStream_t stream) {
  if (!plan.on_chip) {
    softmax_online(args, 1024, stream);
    return;
  }
  FA_DISPATCH_ELEM(args.elem, launch_v5<T>(args, plan, stream));
}

}  // namespace fabench

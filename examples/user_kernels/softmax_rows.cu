// user.softmax_rows: a template for bringing your own softmax kernel into fa-bench, in the style of
// seed 001's batched softmax (one CUDA block per row, a shared-memory reduction).
//
// Two passes over the row: the first keeps each thread's running maximum and the sum of exp
// relative to it (online softmax: a larger maximum rescales the sum), then one shared-memory tree
// combines the threads' (max, sum) pairs; the second writes exp(scale * x - max) / sum. Every
// element goes through float, so fp32, fp16 and bf16 share the kernel. fa-bench's masks are
// honoured; dropout is refused (it must reproduce fa-bench's Philox stream to validate).
#include <cmath>

#include "fabench/user_variant.hpp"

namespace {

// What the kernel reads of the problem: kernels know nothing of fa-bench's Problem.
struct SoftmaxShape {
  std::int64_t rows, cols;
  float scale;
  fabench::MaskKind mask;
};

// Whether row r keeps column c under the case's mask (README: "The sweep file").
__device__ bool keeps(const SoftmaxShape& s, std::int64_t r, std::int64_t c, const std::uint8_t* mask_row, int length) {
  switch (s.mask) {
    case fabench::MaskKind::causal: return c <= r % s.cols;
    case fabench::MaskKind::tensor: return mask_row[c] != 0;
    case fabench::MaskKind::lengths: return c < length;
    default: return true;
  }
}

// (max, sum) pairs combine like partial softmaxes: the sum relative to the larger maximum.
__device__ void combine(float& m, float& l, float other_m, float other_l) {
  const float m_new = fmaxf(m, other_m);
  if (m_new == -INFINITY) return;  // both empty
  l = l * expf(m - m_new) + other_l * expf(other_m - m_new);
  m = m_new;
}

template <class T>
__global__ void softmax_rows_kernel(const T* x, T* y, const std::uint8_t* mask, const std::int32_t* lengths,
                                    SoftmaxShape s) {
  extern __shared__ float partial[];  // blockDim.x maxima, then blockDim.x sums
  float* partial_max = partial;
  float* partial_sum = partial + blockDim.x;
  const std::int64_t r = blockIdx.x;
  const T* x_row = x + r * s.cols;
  T* y_row = y + r * s.cols;
  const std::uint8_t* mask_row = s.mask == fabench::MaskKind::tensor ? mask + r * s.cols : nullptr;
  const int length = s.mask == fabench::MaskKind::lengths ? lengths[r] : 0;

  float m = -INFINITY, l = 0.0f;
  for (std::int64_t c = threadIdx.x; c < s.cols; c += blockDim.x)
    if (keeps(s, r, c, mask_row, length)) combine(m, l, s.scale * static_cast<float>(x_row[c]), 1.0f);
  partial_max[threadIdx.x] = m;
  partial_sum[threadIdx.x] = l;
  for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {  // blockDim.x is a power of two
    __syncthreads();
    if (threadIdx.x < half) {
      combine(m, l, partial_max[threadIdx.x + half], partial_sum[threadIdx.x + half]);
      partial_max[threadIdx.x] = m;
      partial_sum[threadIdx.x] = l;
    }
  }
  __syncthreads();
  const float row_max = partial_max[0];
  // A row that keeps nothing is all zeros (never 0/0 = NaN).
  const float inv_sum = partial_sum[0] > 0.0f ? 1.0f / partial_sum[0] : 0.0f;
  for (std::int64_t c = threadIdx.x; c < s.cols; c += blockDim.x) {
    const float e = keeps(s, r, c, mask_row, length) ? expf(s.scale * static_cast<float>(x_row[c]) - row_max) : 0.0f;
    y_row[c] = T(e * inv_sum);
  }
}

void launch_softmax_rows(const fabench::LaunchArgs& la) {
  using namespace fabench;
  const Problem& p = la.problem;
  const int threads = static_cast<int>(la.params.at("block_size"));
  const SoftmaxShape shape{p.rows, p.cols, static_cast<float>(p.effective_scale()), p.mask};
  const std::size_t smem = 2 * threads * sizeof(float);
  dispatch_storage(p.dtype, [&](auto zero) {
    using T = decltype(zero);
    softmax_rows_kernel<T><<<static_cast<unsigned>(p.rows), threads, smem, la.stream>>>(
        input<T>(la, softmax_tensors::x), output<T>(la, softmax_tensors::y),
        input<std::uint8_t>(la, softmax_tensors::mask), input<std::int32_t>(la, softmax_tensors::lengths), shape);
  });
}

std::optional<std::string> softmax_rows_supports(const fabench::Problem& p, const fabench::Params&,
                                                 const fabench::DeviceCaps&) {
  if (p.dropout > 0) return std::string("no dropout: it would have to reproduce fa-bench's Philox stream");
  if (p.rows >= (std::int64_t{1} << 31)) return std::string("rows >= 2^31 (one block per row on grid.x)");
  return std::nullopt;
}

}  // namespace

FABENCH_USER_VARIANTS(softmax_rows) {
  using namespace fabench;
  Variant v;
  v.name = "user.softmax_rows";
  v.op = OpKind::softmax;
  v.backend = Backend::gpu;
  v.summary = "template (examples/user_kernels): one block per row, online (max, sum) per thread, a shared-memory "
              "tree, then the write pass";
  v.dtypes = {DType::fp32, DType::fp16, DType::bf16};
  v.params = {{"block_size", 256, {128, 256, 512, 1024}, "threads per row"}};
  v.constraints = "scale and every mask kind; no dropout";
  v.supports = softmax_rows_supports;
  v.launch = launch_softmax_rows;
  registry.add(std::move(v));
}

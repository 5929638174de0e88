// Registered softmax(X) @ V variants (seed 004 part 1).
#include <fmt/format.h>

#include "core/variant.hpp"
#include "run/cublas.hpp"
#include "variants/kernel_args.hpp"
#include "variants/register.hpp"

namespace fabench {

namespace {

// The framework path, as PyTorch's softmax(x) @ v runs it: a softmax kernel writes P, then
// cuBLAS's batched GEMM (fp32 without TF32; fp16/bf16 with fp32 accumulation).
void softmax_then_cublas(const LaunchArgs& la) {
  const SoftmaxMatmulArgs a = softmax_matmul_args(la.problem, la.tensors);
  softmax_matmul_softmax_pass(a, la.workspace, current_device_sm_count(), la.stream);
  const cudaDataType_t dt = cublas_data_type(la.problem.dtype);
  const float one = 1.0f, zero = 0.0f;
  // Row-major out = P V is column-major out^T = V^T P^T: m = d3, n = d1, k = d2.
  check_cublas(cublasGemmStridedBatchedEx(cublas_handle(la.stream), CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(a.d3),
                                          static_cast<int>(a.d1), static_cast<int>(a.d2), &one, a.v, dt,
                                          static_cast<int>(a.d3), a.d2 * a.d3, la.workspace, dt, static_cast<int>(a.d2),
                                          a.d1 * a.d2, &zero, a.out, dt, static_cast<int>(a.d3), a.d1 * a.d3,
                                          static_cast<int>(a.batch), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
               "cublasGemmStridedBatchedEx");
}

std::size_t p_workspace(const Problem& p, const Params&) {
  return softmax_matmul_naive_workspace_bytes(softmax_matmul_args(p, std::vector<void*>(3)));
}

std::optional<std::string> fits_int(const Problem& p, const Params&, const DeviceCaps&) {
  if (p.batch > 65535) return fmt::format("batch {} > 65535 (grid.z)", p.batch);
  if (p.rows >= (1 << 30) || p.cols >= (1 << 30) || p.d3 >= (1 << 30)) return std::string("a dimension >= 2^30");
  return std::nullopt;
}

}  // namespace

void register_softmax_matmul_variants(Registry& r) {
  const std::vector<DType> all_float = {DType::fp32, DType::fp16, DType::bf16};
  r.add(Variant{
      "softmax_matmul.naive", OpKind::softmax_matmul, Backend::gpu,
      "softmax.fused writes P = softmax(X) to memory, then the tiled CUDA-core GEMM computes P V", all_float, {}, {},
      "workspace batch*d1*d2 elements (P)", fits_int, p_workspace,
      [](const LaunchArgs& la) {
        softmax_matmul_naive(softmax_matmul_args(la.problem, la.tensors), la.workspace, current_device_sm_count(),
                             la.stream);
      }});
  r.add(Variant{
      "softmax_matmul.fused", OpKind::softmax_matmul, Backend::gpu,
      "one kernel: online softmax over BLOCK-wide tiles of d2 with a rescaled output accumulator; P never stored",
      all_float, {}, {{"block", 32, {16, 32, 64}, "rows of X per block and the d2 tile (the seed's BLOCK)"}},
      "no workspace: memory does not grow with d1 x d2 beyond X itself", fits_int, nullptr,
      [](const LaunchArgs& la) {
        softmax_matmul_fused(softmax_matmul_args(la.problem, la.tensors), static_cast<int>(la.params.at("block")),
                             la.stream);
      }});
  r.add(Variant{"softmax_matmul.cublas", OpKind::softmax_matmul, Backend::gpu,
                "the framework path: softmax.fused writes P, then cuBLAS batched GEMM (what torch does)", all_float,
                {}, {}, "workspace batch*d1*d2 elements (P); dimensions < 2^31", fits_int, p_workspace,
                softmax_then_cublas});
}

}  // namespace fabench

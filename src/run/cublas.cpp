#include "run/cublas.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace fabench {

cublasHandle_t cublas_handle(cudaStream_t stream) {
  static cublasHandle_t handle = [] {
    cublasHandle_t h = nullptr;
    check_cublas(cublasCreate(&h), "cublasCreate");
    return h;
  }();
  check_cublas(cublasSetStream(handle, stream), "cublasSetStream");
  return handle;
}

cudaDataType_t cublas_data_type(DType t) {
  switch (t) {
    case DType::fp16: return CUDA_R_16F;
    case DType::bf16: return CUDA_R_16BF;
    default: return CUDA_R_32F;
  }
}

cublasComputeType_t cublas_compute_type(DType t) {
  return t == DType::tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
}

void check_cublas(cublasStatus_t status, const std::string& what) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error(fmt::format("{}: {} ({})", what, cublasGetStatusString(status), static_cast<int>(status)));
}

}  // namespace fabench

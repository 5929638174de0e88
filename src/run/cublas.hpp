#pragma once
// One cuBLAS handle per process (calibration and the variants that call cuBLAS), bound to the
// caller's stream, and the types cuBLAS runs each dtype in.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <string>

#include "core/dtype.hpp"

namespace fabench {

cublasHandle_t cublas_handle(cudaStream_t stream);
// The storage type and compute type cuBLAS runs a dtype in (tf32: fp32 storage, TF32 math).
cudaDataType_t cublas_data_type(DType t);
cublasComputeType_t cublas_compute_type(DType t);
// Throws std::runtime_error naming `what` when status is not success.
void check_cublas(cublasStatus_t status, const std::string& what);

}  // namespace fabench

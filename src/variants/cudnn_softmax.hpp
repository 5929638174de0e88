#pragma once
// cuDNN's softmax, loaded at run time (dlopen of libcudnn.so.9) so fa-bench runs where cuDNN is
// absent; the variant is then unsupported with the reason.
#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>

#include "kernels/common/kernel_types.h"

namespace fabench {

// Empty when cuDNN can be used, else why not.
std::string cudnn_unavailable_reason();
std::string cudnn_version_text();
// y = softmax(x) row-wise over rows x cols (CUDNN_SOFTMAX_ACCURATE, mode INSTANCE). Throws on error.
void cudnn_softmax_forward(const void* x, void* y, std::int64_t rows, std::int64_t cols, KernelElem elem,
                           cudaStream_t stream);

}  // namespace fabench

#include "variants/cudnn_softmax.hpp"

#include "core/variant.hpp"

#include <cudnn.h>
#include <dlfcn.h>

#include <fmt/format.h>
#include <stdexcept>

namespace fabench {

namespace {

struct CudnnApi {
  decltype(&cudnnGetVersion) get_version = nullptr;
  decltype(&cudnnCreate) create = nullptr;
  decltype(&cudnnSetStream) set_stream = nullptr;
  decltype(&cudnnCreateTensorDescriptor) create_tensor = nullptr;
  decltype(&cudnnSetTensor4dDescriptor) set_tensor4d = nullptr;
  decltype(&cudnnSoftmaxForward) softmax_forward = nullptr;
  decltype(&cudnnGetErrorString) error_string = nullptr;
  cudnnHandle_t handle = nullptr;
  std::string error;

  CudnnApi() {
    void* lib = dlopen("libcudnn.so.9", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      error = fmt::format("cuDNN not found ({})", dlerror());
      return;
    }
    auto load = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
      if (!fn && error.empty()) error = fmt::format("cuDNN lacks {}", name);
    };
    load(get_version, "cudnnGetVersion");
    load(create, "cudnnCreate");
    load(set_stream, "cudnnSetStream");
    load(create_tensor, "cudnnCreateTensorDescriptor");
    load(set_tensor4d, "cudnnSetTensor4dDescriptor");
    load(softmax_forward, "cudnnSoftmaxForward");
    load(error_string, "cudnnGetErrorString");
  }

  void check(cudnnStatus_t s, const char* what) const {
    if (s == CUDNN_STATUS_SUCCESS) return;
    std::string msg = fmt::format("{}: {}", what, error_string(s));
    if (static_cast<int>(s) / 1000 == CUDNN_STATUS_NOT_SUPPORTED / 1000) throw VariantUnsupported(msg);
    throw std::runtime_error(msg);
  }
};

CudnnApi& api() {
  static CudnnApi a;
  return a;
}

}  // namespace

std::string cudnn_unavailable_reason() { return api().error; }

std::string cudnn_version_text() {
  if (!api().error.empty()) return "none";
  std::size_t v = api().get_version();
  return fmt::format("{}.{}.{}", v / 10000, (v % 10000) / 100, v % 100);
}

void cudnn_softmax_forward(const void* x, void* y, std::int64_t rows, std::int64_t cols, KernelElem elem,
                           cudaStream_t stream) {
  CudnnApi& a = api();
  if (!a.error.empty()) throw std::runtime_error(a.error);
  if (!a.handle) a.check(a.create(&a.handle), "cudnnCreate");
  a.check(a.set_stream(a.handle, stream), "cudnnSetStream");
  // Descriptors are cached per shape: creating them is host work that must not sit in the timing.
  static cudnnTensorDescriptor_t desc = nullptr;
  static std::int64_t desc_rows = -1, desc_cols = -1;
  static KernelElem desc_elem = KernelElem::f32;
  if (!desc) a.check(a.create_tensor(&desc), "cudnnCreateTensorDescriptor");
  if (desc_rows != rows || desc_cols != cols || desc_elem != elem) {
    const cudnnDataType_t dt = elem == KernelElem::f16    ? CUDNN_DATA_HALF
                               : elem == KernelElem::bf16 ? CUDNN_DATA_BFLOAT16
                                                          : CUDNN_DATA_FLOAT;
    a.check(a.set_tensor4d(desc, CUDNN_TENSOR_NCHW, dt, static_cast<int>(rows), static_cast<int>(cols), 1, 1),
            "cudnnSetTensor4dDescriptor");
    desc_rows = rows;
    desc_cols = cols;
    desc_elem = elem;
  }
  const float one = 1.0f, zero = 0.0f;
  a.check(a.softmax_forward(a.handle, CUDNN_SOFTMAX_ACCURATE, CUDNN_SOFTMAX_MODE_INSTANCE, &one, desc, x, &zero, desc,
                            y),
          "cudnnSoftmaxForward");
}

}  // namespace fabench

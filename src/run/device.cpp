#include "run/device.hpp"

#include <fmt/format.h>

namespace fabench {

std::string cuda_version_text(int version) { return fmt::format("{}.{}", version / 1000, (version % 1000) / 10); }

DeviceInfo query_device(int index) {
  DeviceInfo info;
  info.index = index;
  cudaDriverGetVersion(&info.driver_version);
  cudaRuntimeGetVersion(&info.runtime_version);
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    info.caps.unavailable_reason = fmt::format("no CUDA device ({})", cudaGetErrorString(e));
    cudaGetLastError();
    return info;
  }
  if (index < 0 || index >= count) {
    info.caps.unavailable_reason = fmt::format("CUDA device {} does not exist ({} found)", index, count);
    return info;
  }
  if ((e = cudaSetDevice(index)) != cudaSuccess) {
    info.caps.unavailable_reason = fmt::format("cannot use CUDA device {} ({})", index, cudaGetErrorString(e));
    return info;
  }
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, index);
  auto attr = [&](cudaDeviceAttr a) {
    int v = 0;
    cudaDeviceGetAttribute(&v, a, index);
    return v;
  };
  info.caps.available = true;
  info.caps.name = prop.name;
  info.caps.cc_major = prop.major;
  info.caps.cc_minor = prop.minor;
  info.caps.sm_count = prop.multiProcessorCount;
  info.caps.smem_per_block_optin = prop.sharedMemPerBlockOptin;
  info.caps.total_mem = prop.totalGlobalMem;
  info.l2_bytes = static_cast<std::size_t>(prop.l2CacheSize);
  info.sm_clock_mhz = attr(cudaDevAttrClockRate) / 1000;
  info.mem_clock_mhz = attr(cudaDevAttrMemoryClockRate) / 1000;
  info.mem_bus_bits = attr(cudaDevAttrGlobalMemoryBusWidth);
  char bus[32] = {0};
  if (cudaDeviceGetPCIBusId(bus, sizeof bus, index) == cudaSuccess) info.pci_bus_id = bus;
  return info;
}

CudaFailure classify_cuda_error(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return CudaFailure::none;
    case cudaErrorMemoryAllocation: return CudaFailure::out_of_memory;
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorAssert:
    case cudaErrorLaunchTimeout:
    case cudaErrorECCUncorrectable:
    case cudaErrorUnknown: return CudaFailure::sticky;
    default: return CudaFailure::launch;
  }
}

CudaError::CudaError(cudaError_t c, const std::string& where)
    : std::runtime_error(fmt::format("{}: {} ({})", where, cudaGetErrorString(c), cudaGetErrorName(c))), code(c) {}

void cuda_check(cudaError_t e, const char* where) {
  if (e != cudaSuccess) throw CudaError(e, where);
}

DeviceBuffer::DeviceBuffer(std::size_t bytes) : bytes_(bytes) {
  if (bytes == 0) return;
  cudaError_t e = cudaMalloc(&ptr_, bytes);
  if (e != cudaSuccess) {
    ptr_ = nullptr;
    if (e == cudaErrorMemoryAllocation) cudaGetLastError();  // not sticky: clear it
    throw CudaError(e, fmt::format("cudaMalloc({:.1f} MiB)", static_cast<double>(bytes) / (1 << 20)));
  }
}
DeviceBuffer::~DeviceBuffer() {
  if (ptr_) cudaFree(ptr_);
}
DeviceBuffer::DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_) {
  o.ptr_ = nullptr;
  o.bytes_ = 0;
}
DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    if (ptr_) cudaFree(ptr_);
    ptr_ = o.ptr_;
    bytes_ = o.bytes_;
    o.ptr_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}

CudaStream::CudaStream() { cuda_check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate"); }
CudaStream::~CudaStream() {
  if (stream_) cudaStreamDestroy(stream_);
}

}  // namespace fabench

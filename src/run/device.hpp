#pragma once
// The GPU as the harness sees it: what it is, memory that cannot leak, and what an error means.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <stdexcept>
#include <string>

#include "core/variant.hpp"

namespace fabench {

struct DeviceInfo {
  DeviceCaps caps;
  int index = 0;
  std::size_t l2_bytes = 0;
  int sm_clock_mhz = 0, mem_clock_mhz = 0, mem_bus_bits = 0;
  int driver_version = 0, runtime_version = 0;
  std::string pci_bus_id;
};

// Queries device `index`; when there is none (or no driver), caps.available is false and
// caps.unavailable_reason says why. Never throws.
DeviceInfo query_device(int index);
std::string cuda_version_text(int version);  // 13000 -> "13.0"

// How a CUDA error affects the sweep.
enum class CudaFailure {
  none,
  out_of_memory,  // status oom
  launch,         // bad configuration, too much shared memory...: status launch_error, context fine
  sticky          // illegal address and friends: the context is dead, status fault, restart process
};
CudaFailure classify_cuda_error(cudaError_t e);

struct CudaError : std::runtime_error {
  cudaError_t code;
  CudaError(cudaError_t c, const std::string& where);
};
// Throws CudaError when `e` is not cudaSuccess.
void cuda_check(cudaError_t e, const char* where);

// A device allocation that frees itself. Allocation failure throws CudaError(cudaErrorMemoryAllocation).
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& o) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* get() const { return ptr_; }
  std::size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  std::size_t bytes_ = 0;
};

// A stream and two events for timing; created once per device.
class CudaStream {
 public:
  CudaStream();
  ~CudaStream();
  CudaStream(const CudaStream&) = delete;
  CudaStream& operator=(const CudaStream&) = delete;
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

}  // namespace fabench

#pragma once
// Host copies of a case's tensors: seeded inputs (never zeros) and outputs read back.
#include <cstdint>
#include <vector>

#include "core/op_tensors.hpp"

namespace fabench {

struct HostTensor {
  TensorSpec spec;
  std::vector<unsigned char> bytes;  // as stored on the device
  std::vector<float> values;         // floating-point tensors decoded to float, for the reference

  std::size_t size_bytes() const { return spec.count * elem_size(spec.type); }
  void* data() { return bytes.empty() ? nullptr : bytes.data(); }
  template <class T>
  const T* as() const {
    return reinterpret_cast<const T*>(bytes.data());
  }
  void decode();  // refreshes `values` from `bytes`
};

// Inputs filled from (problem seed, tensor index), in chunks so threads give the same bytes;
// outputs sized but left empty. Inputs are rounded to the storage type before the reference sees them.
std::vector<HostTensor> make_host_tensors(const Problem& p);

}  // namespace fabench

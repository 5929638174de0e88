#pragma once
// A host copy of one tensor of a case: its seeded input, or an output read back.
#include <cstddef>
#include <vector>

#include "core/op_tensors.hpp"

namespace fabench {

struct HostTensor {
  TensorSpec spec;
  std::vector<unsigned char> bytes;  // as stored on the device
  std::vector<float> values;         // floating-point inputs decoded to float, for the reference
                                     // (empty where the spec's host_floats is false)

  std::size_t size_bytes() const { return spec.count * elem_size(spec.type); }
  void* data() { return bytes.empty() ? nullptr : bytes.data(); }
  template <class T>
  const T* as() const {
    return reinterpret_cast<const T*>(bytes.data());
  }
  template <class T>
  T* as_mutable() {
    return reinterpret_cast<T*>(bytes.data());
  }
  void decode();  // refreshes `values` from `bytes`
};

}  // namespace fabench

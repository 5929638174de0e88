#pragma once
// Host copies of a case's tensors: seeded inputs (never zeros) and outputs read back.
#include <cstdint>
#include <vector>

#include "core/host_tensor.hpp"

namespace fabench {

// Inputs filled from (problem seed, tensor index), in chunks so threads give the same bytes;
// outputs sized but left empty. Inputs are rounded to the storage type before the reference sees them.
// derive_on_device: derived inputs (OpSpec::derive_inputs) may be made on the current CUDA device.
std::vector<HostTensor> make_host_tensors(const Problem& p, bool derive_on_device = false);  // the op's tensors
std::vector<HostTensor> make_host_tensors(const Problem& p, const std::vector<TensorSpec>& specs,
                                          bool derive_on_device = false);

}  // namespace fabench

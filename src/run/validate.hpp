#pragma once
// Checks a case's outputs against its op's CPU reference (double accumulation).
#include <vector>

#include "core/host_tensor.hpp"
#include "core/settings.hpp"
#include "ops/validation.hpp"

namespace fabench {

// `tensors` holds the inputs as generated and the outputs as read back (bytes), in op order.
// Every output element is scanned for NaN (unwritten elements keep their NaN poison).
Validation validate_outputs(const Problem& p, const std::vector<HostTensor>& tensors, const ValidationSettings& s);

}  // namespace fabench

#pragma once
#include <string>

#include "core/variant.hpp"

namespace fabench {
// `fa-bench list`: every variant with its op, dtypes, head dims, parameters and constraints.
std::string describe_variants(const Registry& registry);
}  // namespace fabench

// Variants that exist to test the harness, registered only when FABENCH_DEBUG_VARIANTS is set.
#include <cstdlib>

#include "core/variant.hpp"
#include "kernels/common/fault.h"
#include "variants/register.hpp"

namespace fabench {

void register_debug_variants(Registry& r) {
  if (!std::getenv("FABENCH_DEBUG_VARIANTS")) return;
  r.add(Variant{"debug.illegal_address", OpKind::softmax, Backend::gpu,
                "writes to an illegal address: a sticky CUDA fault, for testing the fault path",
                {DType::fp32, DType::fp16, DType::bf16}, {}, {}, "for tests only", nullptr, nullptr,
                [](const LaunchArgs& la) { launch_illegal_address_kernel(la.stream); }});
}

}  // namespace fabench

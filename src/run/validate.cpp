#include "run/validate.hpp"

#include "ops/registry.hpp"

namespace fabench {

Validation validate_outputs(const Problem& p, const std::vector<HostTensor>& tensors, const ValidationSettings& s) {
  return op_spec(p.op).validate(p, tensors, s);
}

}  // namespace fabench

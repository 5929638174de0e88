#pragma once
// The ops of this build, looked up by OpKind or by name.
#include <string_view>
#include <vector>

#include "ops/op.hpp"

namespace fabench {

// Every op, in the order error messages, `list` and the extra CSV columns use.
const std::vector<const OpSpec*>& all_ops();
const OpSpec& op_spec(OpKind kind);            // throws std::logic_error for an op not in the list
const OpSpec* find_op(std::string_view name);  // nullptr when no op has that name

// The op's answers, for callers that hold only a Problem.
std::vector<TensorSpec> op_tensors(const Problem& p);  // in LaunchArgs order
double model_flops(const Problem& p);
double model_bytes(const Problem& p);  // the fewest bytes a kernel must move

}  // namespace fabench

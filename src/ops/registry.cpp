#include "ops/registry.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <stdexcept>

namespace fabench {

// One line each: the op's file defines it.
const OpSpec& softmax_op();
const OpSpec& attention_op();
const OpSpec& softmax_matmul_op();
const OpSpec& decode_op();
const OpSpec& kv_append_op();
const OpSpec& generate_op();
const OpSpec& sparse_attention_op();
const OpSpec& attention_bwd_op();
const OpSpec& attention_fwd_bwd_op();

const std::vector<const OpSpec*>& all_ops() {
  static const std::vector<const OpSpec*> ops = {&softmax_op(), &attention_op(), &softmax_matmul_op(),
                                                   &decode_op(),  &kv_append_op(), &generate_op(),
                                                   &sparse_attention_op(), &attention_bwd_op(),
                                                   &attention_fwd_bwd_op()};
  return ops;
}

const OpSpec& op_spec(OpKind kind) {
  for (const OpSpec* op : all_ops())
    if (op->kind == kind) return *op;
  throw std::logic_error(fmt::format("op {} is not in the op registry", static_cast<int>(kind)));
}

const OpSpec* find_op(std::string_view name) {
  for (const OpSpec* op : all_ops())
    if (op->name == name) return op;
  return nullptr;
}

std::vector<TensorSpec> op_tensors(const Problem& p) { return op_spec(p.op).tensors(p); }
double model_flops(const Problem& p) { return op_spec(p.op).flops(p); }
double model_bytes(const Problem& p) { return op_spec(p.op).bytes(p); }

// core/problem.hpp's op-dependent answers come from the op's spec.

std::string_view to_string(OpKind op) { return op_spec(op).name; }

std::optional<OpKind> parse_op(std::string_view s) {
  if (const OpSpec* op = find_op(s)) return op->kind;
  return std::nullopt;
}

const char* op_choices() {
  static const std::string choices = [] {
    std::vector<std::string> names;
    for (const OpSpec* op : all_ops()) names.push_back(op->name);
    return fmt::format("{}", fmt::join(names, ", "));
  }();
  return choices.c_str();
}

double Problem::effective_scale() const { return scale ? *scale : op_spec(op).default_scale(*this); }
std::string Problem::key() const { return op_spec(op).key(*this); }
std::string Problem::shape_label() const { return op_spec(op).label(*this); }

}  // namespace fabench

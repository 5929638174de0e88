#include "core/problem.hpp"

#include <cmath>
#include <fmt/format.h>

namespace fabench {

std::string_view to_string(OpKind op) {
  switch (op) {
    case OpKind::softmax: return "softmax";
    case OpKind::attention: return "attention";
    case OpKind::softmax_matmul: return "softmax_matmul";
  }
  return "?";
}

std::optional<OpKind> parse_op(std::string_view s) {
  for (OpKind op : {OpKind::softmax, OpKind::attention, OpKind::softmax_matmul})
    if (to_string(op) == s) return op;
  return std::nullopt;
}

const char* op_choices() { return "softmax, attention, softmax_matmul"; }

std::string_view to_string(MaskKind m) {
  switch (m) {
    case MaskKind::none: return "none";
    case MaskKind::causal: return "causal";
    case MaskKind::tensor: return "tensor";
    case MaskKind::lengths: return "lengths";
  }
  return "?";
}

std::optional<MaskKind> parse_mask(std::string_view s) {
  for (MaskKind m : {MaskKind::none, MaskKind::causal, MaskKind::tensor, MaskKind::lengths})
    if (to_string(m) == s) return m;
  return std::nullopt;
}

const char* mask_choices() { return "none, causal, tensor, lengths"; }

double Problem::effective_scale() const {
  if (scale) return *scale;
  if (op == OpKind::attention) return 1.0 / std::sqrt(static_cast<double>(head_dim));
  return 1.0;
}

std::string Problem::key() const {
  std::string scale_text = scale ? fmt::format("{:g}", *scale) : "default";
  switch (op) {
    case OpKind::softmax:
      return fmt::format("softmax/{}/r{}/c{}/scale{}/mask-{}/drop{:g}", to_string(dtype), rows, cols,
                         scale_text, to_string(mask), dropout);
    case OpKind::attention:
      return fmt::format("attention/{}/b{}/h{}/kv{}/sq{}/sk{}/d{}/{}/scale{}", to_string(dtype), batch,
                         heads, kv_heads, seq_q, seq_k, head_dim, causal ? "causal" : "full", scale_text);
    case OpKind::softmax_matmul:
      return fmt::format("softmax_matmul/{}/b{}/d1_{}/d2_{}/d3_{}", to_string(dtype), batch, rows, cols, d3);
  }
  return "?";
}

std::string Problem::shape_label() const {
  switch (op) {
    case OpKind::softmax: {
      std::string s = fmt::format("{} {}x{}", to_string(dtype), rows, cols);
      if (scale) s += fmt::format(" scale={:g}", *scale);
      if (mask != MaskKind::none) s += fmt::format(" mask={}", to_string(mask));
      if (dropout > 0) s += fmt::format(" p={:g}", dropout);
      return s;
    }
    case OpKind::attention: {
      std::string heads_text = kv_heads == heads ? fmt::format("h{}", heads) : fmt::format("h{}/{}", heads, kv_heads);
      std::string seq_text = seq_q == seq_k ? fmt::format("s{}", seq_q) : fmt::format("s{}x{}", seq_q, seq_k);
      return fmt::format("{} b{} {} {} d{}{}", to_string(dtype), batch, heads_text, seq_text, head_dim,
                         causal ? " causal" : "");
    }
    case OpKind::softmax_matmul:
      return fmt::format("{} b{} {}x{} @ {}x{}", to_string(dtype), batch, rows, cols, cols, d3);
  }
  return "?";
}

std::string params_label(const Params& p) {
  std::string s;
  for (const auto& [name, value] : p) s += fmt::format("{}{}={}", s.empty() ? "" : ",", name, value);
  return s;
}

}  // namespace fabench

#include "ops/attention_shape.hpp"

#include <cmath>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/checked_size.hpp"
#include "core/models.hpp"
#include "core/variant.hpp"
#include "ops/op_helpers.hpp"

namespace fabench {

std::vector<AxisSpec> attention_axes(AxisSpec head_dim) {
  return {dtype_axis(),
          positive_int_axis("batch", &Problem::batch),
          positive_int_axis("heads", &Problem::heads),
          positive_int_axis("kv_heads", &Problem::kv_heads),
          seq_len_axis(),
          positive_int_axis("seq_q", &Problem::seq_q),
          positive_int_axis("seq_k", &Problem::seq_k),
          std::move(head_dim),
          bool_axis("causal", &Problem::causal),
          scale_axis()};
}

std::string attention_complete(Problem& p, const AxisGiven& given) {
  if (!given("kv_heads")) p.kv_heads = p.heads;
  if (p.heads % p.kv_heads != 0) return fmt::format("heads {} is not a multiple of kv_heads {}", p.heads, p.kv_heads);
  return {};
}

std::string attention_key(const char* op_name, const Problem& p) {
  return fmt::format("{}/{}/b{}/h{}/kv{}/sq{}/sk{}/d{}/{}/scale{}", op_name, to_string(p.dtype), p.batch, p.heads,
                     p.kv_heads, p.seq_q, p.seq_k, p.head_dim, p.causal ? "causal" : "full", scale_key(p));
}

std::string attention_label(const Problem& p) {
  std::string heads = p.kv_heads == p.heads ? fmt::format("h{}", p.heads) : fmt::format("h{}/{}", p.heads, p.kv_heads);
  std::string seq = p.seq_q == p.seq_k ? fmt::format("s{}", p.seq_q) : fmt::format("s{}x{}", p.seq_q, p.seq_k);
  return fmt::format("{} b{} {} {} d{}{}", to_string(p.dtype), p.batch, heads, seq, p.head_dim,
                     p.causal ? " causal" : "");
}

ShapeColumns attention_shape_columns_without_causal(const Problem& p) {
  ShapeColumns c;
  c.batch = std::to_string(p.batch);
  c.heads = std::to_string(p.heads);
  c.kv_heads = std::to_string(p.kv_heads);
  c.seq_q = std::to_string(p.seq_q);
  c.seq_k = std::to_string(p.seq_k);
  c.head_dim = std::to_string(p.head_dim);
  return c;
}

ShapeColumns attention_shape_columns(const Problem& p) {
  ShapeColumns c = attention_shape_columns_without_causal(p);
  c.causal = p.causal ? "true" : "false";
  return c;
}

std::string attention_row_shape(const TextRow& r) {
  const std::string seq = row_text(r, "seq_q") == row_text(r, "seq_k")
                              ? "s" + row_text(r, "seq_q")
                              : "s" + row_text(r, "seq_q") + "x" + row_text(r, "seq_k");
  return fmt::format("{} b{} {} {} d{}{}", row_text(r, "dtype"), row_text(r, "batch"), row_heads_text(r), seq,
                     row_text(r, "head_dim"), row_text(r, "causal") == "true" ? " causal" : "");
}

PivotPlace attention_row_pivot(const TextRow& r) {
  PivotPlace place;
  place.title = row_text(r, "causal") == "true" ? " causal" : " non-causal";
  if (row_text(r, "kv_heads") != row_text(r, "heads"))
    place.title += fmt::format(" gqa {}:{}", row_text(r, "heads"), row_text(r, "kv_heads"));
  place.corner = "seq_len \\ head_dim";
  place.row = row_text(r, "seq_q") == row_text(r, "seq_k") ? row_text(r, "seq_q")
                                                            : row_text(r, "seq_q") + "x" + row_text(r, "seq_k");
  place.column = row_text(r, "head_dim");
  return place;
}

std::string attention_list_details(const Variant& v) {
  return fmt::format("  head dims: {}\n",
                     v.head_dims.empty() ? std::string("any") : fmt::format("{}", fmt::join(v.head_dims, ", ")));
}


double attention_forward_flops(const Problem& p) {
  const double pairs = p.causal ? causal_pairs(p.seq_q, p.seq_k)
                                : static_cast<double>(p.seq_q) * static_cast<double>(p.seq_k);
  return 4.0 * static_cast<double>(p.batch * p.heads) * pairs * static_cast<double>(p.head_dim);
}

double attention_forward_bytes(const Problem& p) {
  const double es = static_cast<double>(elem_size(storage_type(p.dtype)));
  const double q_rows = static_cast<double>(p.batch * p.heads * p.seq_q);
  const double kv_rows = static_cast<double>(p.batch * p.kv_heads * p.seq_k);
  const double d = static_cast<double>(p.head_dim);
  return (2.0 * q_rows * d + 2.0 * kv_rows * d) * es + 4.0 * q_rows;
}

AttentionCounts attention_counts(const Problem& p) {
  return {checked_count("q", {p.batch, p.heads, p.seq_q, p.head_dim}),
          checked_count("k", {p.batch, p.kv_heads, p.seq_k, p.head_dim}),
          checked_count("lse", {p.batch, p.heads, p.seq_q})};
}

OpSpec attention_shaped_op(OpKind kind, const char* name, AxisSpec head_dim) {
  OpSpec s;
  s.kind = kind;
  s.name = name;
  s.axes = attention_axes(std::move(head_dim));
  s.check_required = [](const AxisGiven& given) { return seq_required(given, {"head_dim"}); };
  s.complete = attention_complete;
  s.key = [name](const Problem& p) { return attention_key(name, p); };
  s.label = attention_label;
  s.default_scale = inverse_sqrt_head_dim;
  s.shape_columns = attention_shape_columns;
  s.row_shape = attention_row_shape;
  s.row_pivot = attention_row_pivot;
  s.list_details = attention_list_details;
  return s;
}

}  // namespace fabench

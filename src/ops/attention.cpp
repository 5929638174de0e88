// attention forward: O = softmax(scale * Q K^T) V per batch and head, with GQA (heads a multiple
// of kv_heads) and bottom-right-aligned causal masking; the log-sum-exp per query row is an output.
#include <cmath>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/models.hpp"
#include "core/variant.hpp"
#include "ops/op_helpers.hpp"
#include "reference/attention_reference.hpp"

namespace fabench {

namespace {

// kv_heads defaults to heads (no GQA).
std::string complete(Problem& p, const AxisGiven& given) {
  if (!given("kv_heads")) p.kv_heads = p.heads;
  if (p.heads % p.kv_heads != 0) return fmt::format("heads {} is not a multiple of kv_heads {}", p.heads, p.kv_heads);
  return {};
}

std::string key(const Problem& p) {
  return fmt::format("attention/{}/b{}/h{}/kv{}/sq{}/sk{}/d{}/{}/scale{}", to_string(p.dtype), p.batch, p.heads,
                     p.kv_heads, p.seq_q, p.seq_k, p.head_dim, p.causal ? "causal" : "full", scale_key(p));
}

std::string label(const Problem& p) {
  std::string heads = p.kv_heads == p.heads ? fmt::format("h{}", p.heads) : fmt::format("h{}/{}", p.heads, p.kv_heads);
  std::string seq = p.seq_q == p.seq_k ? fmt::format("s{}", p.seq_q) : fmt::format("s{}x{}", p.seq_q, p.seq_k);
  return fmt::format("{} b{} {} {} d{}{}", to_string(p.dtype), p.batch, heads, seq, p.head_dim,
                     p.causal ? " causal" : "");
}

// Q [batch, heads, seq_q, d], K/V [batch, kv_heads, seq_k, d], O like Q, lse [batch, heads, seq_q] fp32.
std::vector<TensorSpec> tensors(const Problem& p) {
  const ElemType et = storage_type(p.dtype);
  const auto q = checked_count("q", {p.batch, p.heads, p.seq_q, p.head_dim});
  const auto kv = checked_count("k", {p.batch, p.kv_heads, p.seq_k, p.head_dim});
  const auto q_rows = checked_count("lse", {p.batch, p.heads, p.seq_q});
  return {
      {"q", et, q, false, Fill::normal},
      {"k", et, kv, false, Fill::normal},
      {"v", et, kv, false, Fill::normal},
      {"o", et, q, true, Fill::none},
      {"lse", ElemType::f32, q_rows, true, Fill::none},
  };
}

// 4*B*H*d per unmasked score (QK^T and PV, multiply-add = 2); causal counts only the unmasked
// scores, so Sq == Sk gives about half.
double flops(const Problem& p) {
  const double pairs = p.causal ? causal_pairs(p.seq_q, p.seq_k)
                                : static_cast<double>(p.seq_q) * static_cast<double>(p.seq_k);
  return 4.0 * static_cast<double>(p.batch * p.heads) * pairs * static_cast<double>(p.head_dim);
}

// Q, K, V, O and the fp32 log-sum-exp per query row.
double bytes(const Problem& p) {
  const double es = static_cast<double>(elem_size(storage_type(p.dtype)));
  const double q_rows = static_cast<double>(p.batch * p.heads * p.seq_q);
  const double kv_rows = static_cast<double>(p.batch * p.kv_heads * p.seq_k);
  const double d = static_cast<double>(p.head_dim);
  return (2.0 * q_rows * d + 2.0 * kv_rows * d) * es + 4.0 * q_rows;
}

Validation validate(const Problem& p, const std::vector<HostTensor>& t, const ValidationSettings& s) {
  const float* q = t[attention_tensors::q].values.data();
  const float* k = t[attention_tensors::k].values.data();
  const float* v = t[attention_tensors::v].values.data();
  const float* lse = t[attention_tensors::lse].as<float>();
  return validate_rows(p, {t[attention_tensors::o], p.batch * p.heads, p.seq_q, p.head_dim, true}, s,
                       [&](std::int64_t row, double* ref, RowError& e) {
                         double ref_lse = 0;
                         attention_reference_row(p, q, k, v, row / (p.heads * p.seq_q), (row / p.seq_q) % p.heads,
                                                 row % p.seq_q, ref, &ref_lse);
                         check_lse(lse[row], ref_lse, e);
                       });
}

ShapeColumns shape_columns(const Problem& p) {
  ShapeColumns c;
  c.batch = std::to_string(p.batch);
  c.heads = std::to_string(p.heads);
  c.kv_heads = std::to_string(p.kv_heads);
  c.seq_q = std::to_string(p.seq_q);
  c.seq_k = std::to_string(p.seq_k);
  c.head_dim = std::to_string(p.head_dim);
  c.causal = p.causal ? "true" : "false";
  return c;
}

std::string row_shape(const TextRow& r) {
  const std::string seq = row_text(r, "seq_q") == row_text(r, "seq_k")
                              ? "s" + row_text(r, "seq_q")
                              : "s" + row_text(r, "seq_q") + "x" + row_text(r, "seq_k");
  return fmt::format("{} b{} {} {} d{}{}", row_text(r, "dtype"), row_text(r, "batch"), row_heads_text(r), seq,
                     row_text(r, "head_dim"), row_text(r, "causal") == "true" ? " causal" : "");
}

// Tables per causal and GQA ratio; rows seq_len (seq_q x seq_k when they differ), columns head_dim.
PivotPlace row_pivot(const TextRow& r) {
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

std::string list_details(const Variant& v) {
  return fmt::format("  head dims: {}\n",
                     v.head_dims.empty() ? std::string("any") : fmt::format("{}", fmt::join(v.head_dims, ", ")));
}

}  // namespace

const OpSpec& attention_op() {
  static const OpSpec spec = [] {
    OpSpec s;
    s.kind = OpKind::attention;
    s.name = "attention";
    s.axes = {dtype_axis(),
              positive_int_axis("batch", &Problem::batch),
              positive_int_axis("heads", &Problem::heads),
              positive_int_axis("kv_heads", &Problem::kv_heads),
              seq_len_axis(),
              positive_int_axis("seq_q", &Problem::seq_q),
              positive_int_axis("seq_k", &Problem::seq_k),
              positive_int_axis("head_dim", &Problem::head_dim),
              bool_axis("causal", &Problem::causal),
              scale_axis()};
    s.check_required = [](const AxisGiven& given) { return seq_required(given, {"head_dim"}); };
    s.complete = complete;
    s.key = key;
    s.label = label;
    s.default_scale = [](const Problem& p) { return 1.0 / std::sqrt(static_cast<double>(p.head_dim)); };
    s.tensors = tensors;
    s.flops = flops;
    s.bytes = bytes;
    s.validate = validate;
    s.shape_columns = shape_columns;
    s.row_shape = row_shape;
    s.row_pivot = row_pivot;
    s.list_details = list_details;
    return s;
  }();
  return spec;
}

}  // namespace fabench

// attention forward: O = softmax(scale * Q K^T) V per batch and head, with GQA (heads a multiple
// of kv_heads) and bottom-right-aligned causal masking; the log-sum-exp per query row is an output.
#include "ops/attention_shape.hpp"
#include "ops/op_helpers.hpp"
#include "reference/attention_reference.hpp"

namespace fabench {

namespace {

// Q [batch, heads, seq_q, d], K/V [batch, kv_heads, seq_k, d], O like Q, lse [batch, heads, seq_q] fp32.
std::vector<TensorSpec> tensors(const Problem& p) {
  const ElemType et = storage_type(p.dtype);
  const auto [q, kv, q_rows] = attention_counts(p);
  return {
      {"q", et, q, false, Fill::normal},
      {"k", et, kv, false, Fill::normal},
      {"v", et, kv, false, Fill::normal},
      {"o", et, q, true, Fill::none},
      {"lse", ElemType::f32, q_rows, true, Fill::none},
  };
}

// 4*B*H*d per unmasked score (QK^T and PV, multiply-add = 2); causal counts only the unmasked
// scores, so Sq == Sk gives about half (ops/attention_shape.cpp).
double flops(const Problem& p) { return attention_forward_flops(p); }

// Q, K, V, O and the fp32 log-sum-exp per query row (ops/attention_shape.cpp).
double bytes(const Problem& p) { return attention_forward_bytes(p); }

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

}  // namespace

const OpSpec& attention_op() {
  static const OpSpec spec = [] {
    OpSpec s = attention_shaped_op(OpKind::attention, "attention", positive_int_axis("head_dim", &Problem::head_dim));
    s.tensors = tensors;
    s.flops = flops;
    s.bytes = bytes;
    s.validate = validate;
    return s;
  }();
  return spec;
}

}  // namespace fabench

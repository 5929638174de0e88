#pragma once
// What the dense attention ops share (attention, attention_bwd, attention_fwd_bwd): the axes, the
// GQA check, the key and label, the CSV shape columns, the progress-line shape and the pivot place.
// Written once here so the forward's outputs and the backward's read the same.
#include <cstddef>
#include <string>
#include <vector>

#include "ops/op.hpp"

namespace fabench {

// dtype, batch, heads, kv_heads, seq_len | seq_q + seq_k, head_dim, causal, scale; `head_dim`
// is the op's own head_dim axis (attention takes any positive value).
std::vector<AxisSpec> attention_axes(AxisSpec head_dim);
// kv_heads defaults to heads; heads must be a multiple of kv_heads.
std::string attention_complete(Problem& p, const AxisGiven& given);
// "<op_name>/<dtype>/b../h../kv../sq../sk../d../<causal|full>/scale..".
std::string attention_key(const char* op_name, const Problem& p);
// "bf16 b2 h16/4 s1024 d64 causal".
std::string attention_label(const Problem& p);
// batch, heads, kv_heads, seq_q, seq_k, head_dim and causal; the attention-shaped ops without a
// causal flag (decode, sparse_attention) leave it empty, and those without some of the others
// (kv_append, generate) clear theirs.
ShapeColumns attention_shape_columns(const Problem& p);
ShapeColumns attention_shape_columns_without_causal(const Problem& p);
std::string attention_row_shape(const TextRow& r);
// Tables per causal and GQA ratio; rows seq_len (seq_q x seq_k when they differ), columns head_dim.
PivotPlace attention_row_pivot(const TextRow& r);
// The OpSpec fields the three ops share: kind, name, axes (with `head_dim`), required axes,
// completion, key ("<name>/..."), label, default scale, shape columns, row shape, pivot place and
// list details. The op adds its tensors, models, validation and anything of its own.
OpSpec attention_shaped_op(OpKind kind, const char* name, AxisSpec head_dim);
// "  head dims: 64, 128\n" (`fa-bench list`).
std::string attention_list_details(const Variant& v);

// Element counts of the attention tensors, checked (a config error above 2^60 elements): Q (and O,
// dO, dQ) [batch, heads, seq_q, d], K (and V, dK, dV) [batch, kv_heads, seq_k, d], and the query
// rows [batch, heads, seq_q] (the log-sum-exp).
struct AttentionCounts {
  std::size_t q = 0, kv = 0, rows = 0;
};
AttentionCounts attention_counts(const Problem& p);

// The dense forward's FLOPs: 4*B*H*d per unmasked score (QK^T and PV, a multiply-add = 2); causal
// counts only the unmasked scores, so Sq == Sk gives about half.
double attention_forward_flops(const Problem& p);
// The dense forward's fewest bytes: Q, K, V read once, O and the fp32 log-sum-exp written once.
double attention_forward_bytes(const Problem& p);

}  // namespace fabench

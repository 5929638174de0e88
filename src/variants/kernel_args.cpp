#include "variants/kernel_args.hpp"

#include "core/op_tensors.hpp"
#include "kernels/common/philox.h"

namespace fabench {

KernelElem kernel_elem(DType t) {
  switch (t) {
    case DType::fp16: return KernelElem::f16;
    case DType::bf16: return KernelElem::bf16;
    default: return KernelElem::f32;
  }
}

SoftmaxArgs softmax_args(const LaunchArgs& la) {
  const Problem& p = la.problem;
  SoftmaxArgs a;
  a.x = la.tensors[softmax_tensors::x];
  a.y = la.tensors[softmax_tensors::y];
  a.mask = static_cast<const std::uint8_t*>(la.tensors[softmax_tensors::mask]);
  a.lengths = static_cast<const std::int32_t*>(la.tensors[softmax_tensors::lengths]);
  a.rows = p.rows;
  a.cols = p.cols;
  a.scale = static_cast<float>(p.effective_scale());
  a.mask_kind = static_cast<SoftmaxMaskKind>(static_cast<int>(p.mask));
  a.dropout_threshold = dropout_threshold(p.dropout);
  a.keep_scale = static_cast<float>(1.0 / (1.0 - p.dropout));
  a.seed = p.seed;
  a.elem = kernel_elem(p.dtype);
  return a;
}

namespace {
// The shape fields the forward and backward attention arguments share.
template <class Args>
void set_attention_shape(Args& a, const Problem& p) {
  a.batch = p.batch;
  a.heads = p.heads;
  a.kv_heads = p.kv_heads;
  a.seq_q = p.seq_q;
  a.seq_k = p.seq_k;
  a.head_dim = p.head_dim;
  a.causal = p.causal;
  a.scale = static_cast<float>(p.effective_scale());
  a.elem = kernel_elem(p.dtype);
}
}  // namespace

AttentionArgs attention_args(const Problem& p, const std::vector<void*>& t) {
  AttentionArgs a;
  a.q = t[attention_tensors::q];
  a.k = t[attention_tensors::k];
  a.v = t[attention_tensors::v];
  a.o = t[attention_tensors::o];
  a.lse = static_cast<float*>(t[attention_tensors::lse]);
  set_attention_shape(a, p);
  return a;
}

SoftmaxMatmulArgs softmax_matmul_args(const Problem& p, const std::vector<void*>& t) {
  SoftmaxMatmulArgs a;
  a.x = t[softmax_matmul_tensors::x];
  a.v = t[softmax_matmul_tensors::v];
  a.out = t[softmax_matmul_tensors::out];
  a.batch = p.batch;
  a.d1 = p.rows;
  a.d2 = p.cols;
  a.d3 = p.d3;
  a.elem = kernel_elem(p.dtype);
  return a;
}

DecodeArgs decode_args(const Problem& p, const std::vector<void*>& t) {
  DecodeArgs a;
  a.q = t[decode_tensors::q];
  a.k_cache = t[decode_tensors::k_cache];
  a.v_cache = t[decode_tensors::v_cache];
  a.lengths = static_cast<const std::int32_t*>(t[decode_tensors::lengths]);
  a.page_table = p.page_size > 0 ? static_cast<const std::int32_t*>(t[decode_tensors::page_table]) : nullptr;
  a.o = t[decode_tensors::o];
  a.lse = static_cast<float*>(t[decode_tensors::lse]);
  a.batch = p.batch;
  a.heads = p.heads;
  a.kv_heads = p.kv_heads;
  a.q_len = p.seq_q;
  a.max_len = p.max_len;
  a.head_dim = p.head_dim;
  a.longest = p.seq_k;
  a.page_size = static_cast<int>(p.page_size);
  a.scale = static_cast<float>(p.effective_scale());
  a.elem = kernel_elem(p.dtype);
  return a;
}

KvAppendArgs kv_append_args(const Problem& p, const std::vector<void*>& t) {
  KvAppendArgs a;
  a.k_new = t[kv_append_tensors::k_new];
  a.v_new = t[kv_append_tensors::v_new];
  a.k_cache = t[kv_append_tensors::k_cache];
  a.v_cache = t[kv_append_tensors::v_cache];
  a.lengths = static_cast<const std::int32_t*>(t[kv_append_tensors::lengths]);
  a.page_table = p.page_size > 0 ? static_cast<const std::int32_t*>(t[kv_append_tensors::page_table]) : nullptr;
  a.batch = p.batch;
  a.kv_heads = p.kv_heads;
  a.q_len = p.seq_q;
  a.max_len = p.max_len;
  a.head_dim = p.head_dim;
  a.page_size = static_cast<int>(p.page_size);
  a.elem = kernel_elem(p.dtype);
  return a;
}

int current_device_sm_count() {
  static int sm_count = [] {
    int dev = 0, n = 0;
    cudaGetDevice(&dev);
    cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev);
    return n;
  }();
  return sm_count;
}

AttentionBwdArgs attention_bwd_args(const Problem& p, const std::vector<void*>& t) {
  namespace T = attention_bwd_tensors;
  AttentionBwdArgs a;
  a.q = t[T::q];
  a.k = t[T::k];
  a.v = t[T::v];
  a.o = t[T::o];
  a.d_o = t[T::d_o];
  a.lse = static_cast<const float*>(t[T::lse]);
  a.dq = t[T::dq];
  a.dk = t[T::dk];
  a.dv = t[T::dv];
  set_attention_shape(a, p);
  return a;
}

CpuAttentionArgs cpu_attention_args(const Problem& p, const std::vector<void*>& t) {
  const AttentionArgs g = attention_args(p, t);  // the same fields, as host fp32 pointers
  CpuAttentionArgs a;
  a.q = static_cast<const float*>(g.q);
  a.k = static_cast<const float*>(g.k);
  a.v = static_cast<const float*>(g.v);
  a.o = static_cast<float*>(g.o);
  a.lse = g.lse;
  a.batch = g.batch;
  a.heads = g.heads;
  a.kv_heads = g.kv_heads;
  a.seq_q = g.seq_q;
  a.seq_k = g.seq_k;
  a.head_dim = g.head_dim;
  a.causal = g.causal;
  a.scale = g.scale;
  return a;
}

}  // namespace fabench

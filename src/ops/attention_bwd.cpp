// attention_bwd (issue 19): the attention backward. Given Q, K, V, the forward's O and log-sum-exp
// and the output's gradient dO, compute dQ, dK and dV (seed 004, section 2.3.2): D = rowsum(dO * O)
// first, P recomputed from the log-sum-exp (never stored), dV = P^T dO, dP = dO V^T,
// dS = P * (dP - D), dQ = scale * dS K, dK = scale * dS^T Q. Causal masking aligned to the bottom
// right as the forward's; GQA sums dK and dV over the query heads of each group.
//
// Inputs: Q, K, V and dO are seeded N(0, 1) (Q, K, V the same as the forward op's case of the same
// shape and seed: they sit at the same tensor indices); O and the lse are the forward of those Q,
// K, V computed in double (derive_inputs: on the sweep's GPU when a GPU variant asks first, where
// the host took 15-30 s a case at seq 16k of device time; on the host otherwise, or with
// FABENCH_INPUTS_ON_HOST=1),
// O rounded to the storage type and the lse to fp32 as a forward kernel would store them. A GPU
// variant thus gets an O and lse consistent with its Q, K, V, and the reference reads the very
// same rounded values.
#include "ops/attention_bwd.hpp"

#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <cstdlib>
#include <cstring>

#include "core/parallel.hpp"
#include "ops/attention_shape.hpp"
#include "ops/op_helpers.hpp"
#include "kernels/attention_bwd/attention_forward_fp64.h"
#include "reference/attention_bwd_reference.hpp"
#include "run/device.hpp"  // DeviceBuffer; CudaError, which the runner classifies (oom, sticky fault)

namespace fabench {

namespace T = attention_bwd_tensors;

const std::vector<std::int64_t>& attention_bwd_head_dims() {
  static const std::vector<std::int64_t> dims = {64, 128, 256};
  return dims;
}

double attention_bwd_flops(const Problem& p) { return 2.5 * attention_forward_flops(p); }

double attention_bwd_bytes(const Problem& p) {
  const double es = static_cast<double>(elem_size(storage_type(p.dtype)));
  const double q_rows = static_cast<double>(p.batch * p.heads * p.seq_q);
  const double kv_rows = static_cast<double>(p.batch * p.kv_heads * p.seq_k);
  const double d = static_cast<double>(p.head_dim);
  return (4.0 * q_rows * d + 4.0 * kv_rows * d) * es + 4.0 * q_rows;
}

AttentionBwdInputs<float> attention_bwd_inputs(const Problem& p, const float* q, const float* k, const float* v,
                                               const float* o, const float* d_o, const float* lse,
                                               std::vector<double>& delta) {
  delta = attention_bwd_deltas(p, o, d_o);
  return {q, k, v, o, d_o, lse, delta.data()};
}

// Unit-variance inputs give gradient elements of 0.01 to 1 (scale 1/sqrt(d)): a gradient whose
// reference is smaller than 0.01 RMS (dQ with a single key is exactly 0) is judged against 0.01.
constexpr double kGradientRmsFloor = 1e-2;

Validation validate_attention_gradients(const Problem& p, const AttentionBwdInputs<float>& in, const HostTensor& dq,
                                        const HostTensor& dk, const HostTensor& dv, const ValidationSettings& s,
                                        Validation& total) {
  const std::int64_t q_heads = p.batch * p.heads, kv_heads = p.batch * p.kv_heads;
  fold_validation(total,
                  validate_rows(p, {dq, q_heads, p.seq_q, p.head_dim, false, kGradientRmsFloor}, s,
                                [&](std::int64_t row, double* ref, RowError&) {
                                  attention_bwd_dq_row(p, in, row / (p.heads * p.seq_q), (row / p.seq_q) % p.heads,
                                                       row % p.seq_q, ref);
                                }),
                  "dq");
  // dK and dV rows are key rows: sampled over every (batch, KV head), first and last key of each.
  fold_validation(total,
                  validate_rows(p, {dk, kv_heads, p.seq_k, p.head_dim, false, kGradientRmsFloor}, s,
                                [&](std::int64_t row, double* ref, RowError&) {
                                  attention_bwd_key_row(p, in, row / (p.kv_heads * p.seq_k),
                                                        (row / p.seq_k) % p.kv_heads, row % p.seq_k, ref, nullptr);
                                }),
                  "dk");
  fold_validation(total,
                  validate_rows(p, {dv, kv_heads, p.seq_k, p.head_dim, false, kGradientRmsFloor}, s,
                                [&](std::int64_t row, double* ref, RowError&) {
                                  attention_bwd_key_row(p, in, row / (p.kv_heads * p.seq_k),
                                                        (row / p.seq_k) % p.kv_heads, row % p.seq_k, nullptr, ref);
                                }),
                  "dv");
  return total;
}

namespace {

// FABENCH_INPUTS_ON_HOST set to anything but "" or "0": derived inputs on the host.
bool inputs_forced_on_host() {
  const char* v = std::getenv("FABENCH_INPUTS_ON_HOST");
  return v && *v && std::strcmp(v, "0") != 0;
}

}  // namespace

bool attention_forward_on_device(const Problem& p, const float* q, const float* k, const float* v, double* o,
                                 double* lse) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    cudaGetLastError();
    return false;
  }
  const std::size_t q_elems = static_cast<std::size_t>(p.batch * p.heads * p.seq_q * p.head_dim);
  const std::size_t kv_elems = static_cast<std::size_t>(p.batch * p.kv_heads * p.seq_k * p.head_dim);
  const std::size_t rows = static_cast<std::size_t>(p.batch * p.heads * p.seq_q);
  DeviceBuffer dq, dk, dv, d_o, d_lse;
  try {
    dq = DeviceBuffer(q_elems * sizeof(float));
    dk = DeviceBuffer(kv_elems * sizeof(float));
    dv = DeviceBuffer(kv_elems * sizeof(float));
    d_o = DeviceBuffer(q_elems * sizeof(double));
    d_lse = DeviceBuffer(rows * sizeof(double));
  } catch (const CudaError& e) {
    if (e.code != cudaErrorMemoryAllocation) throw;
    return false;  // out of memory (DeviceBuffer cleared it): the host derives them instead
  }
  cuda_check(cudaMemcpy(dq.get(), q, q_elems * sizeof(float), cudaMemcpyHostToDevice), "attention_bwd inputs: copy Q");
  cuda_check(cudaMemcpy(dk.get(), k, kv_elems * sizeof(float), cudaMemcpyHostToDevice), "attention_bwd inputs: copy K");
  cuda_check(cudaMemcpy(dv.get(), v, kv_elems * sizeof(float), cudaMemcpyHostToDevice), "attention_bwd inputs: copy V");
  AttentionFp64Args a;
  a.q = static_cast<const float*>(dq.get());
  a.k = static_cast<const float*>(dk.get());
  a.v = static_cast<const float*>(dv.get());
  a.o = static_cast<double*>(d_o.get());
  a.lse = static_cast<double*>(d_lse.get());
  a.batch = p.batch, a.heads = p.heads, a.kv_heads = p.kv_heads, a.seq_q = p.seq_q, a.seq_k = p.seq_k;
  a.head_dim = p.head_dim;
  a.scale = p.effective_scale();
  a.causal = p.causal;
  if (!attention_forward_fp64(a, nullptr)) return false;
  cuda_check(cudaGetLastError(), "attention_bwd inputs: launch the fp64 forward");
  cuda_check(cudaDeviceSynchronize(), "attention_bwd inputs: run the fp64 forward");
  cuda_check(cudaMemcpy(o, d_o.get(), q_elems * sizeof(double), cudaMemcpyDeviceToHost), "attention_bwd inputs: copy O back");
  cuda_check(cudaMemcpy(lse, d_lse.get(), rows * sizeof(double), cudaMemcpyDeviceToHost), "attention_bwd inputs: copy the lse back");
  return true;
}

namespace {

// Q, K, V, dO seeded; O and lse derived; dQ, dK, dV in the storage type, as PyTorch returns them.
std::vector<TensorSpec> tensors(const Problem& p) {
  const ElemType et = storage_type(p.dtype);
  const auto [q, kv, q_rows] = attention_counts(p);
  return {
      {"q", et, q, false, Fill::normal},
      {"k", et, kv, false, Fill::normal},
      {"v", et, kv, false, Fill::normal},
      {"o", et, q, false, Fill::derived},
      {"do", et, q, false, Fill::normal},
      {"lse", ElemType::f32, q_rows, false, Fill::derived},
      {"dq", et, q, true, Fill::none},
      {"dk", et, kv, true, Fill::none},
      {"dv", et, kv, true, Fill::none},
  };
}

// O and lse: the forward in double over the whole problem, rounded as stored.
void derive_inputs(const Problem& p, std::vector<HostTensor>& t, bool on_device) {
  const std::size_t rows = t[T::lse].spec.count, elems = t[T::o].spec.count;
  std::vector<double> o(elems), lse(rows);
  const float *q = t[T::q].values.data(), *k = t[T::k].values.data(), *v = t[T::v].values.data();
  if (!on_device || inputs_forced_on_host() || !attention_forward_on_device(p, q, k, v, o.data(), lse.data()))
    attention_forward_reference(p, q, k, v, o.data(), lse.data());
  const ElemType et = t[T::o].spec.type;
  constexpr std::int64_t kChunk = 1 << 16;
  parallel_for((static_cast<std::int64_t>(elems) + kChunk - 1) / kChunk, [&](std::int64_t c) {
    for (std::size_t i = static_cast<std::size_t>(c * kChunk); i < std::min(elems, static_cast<std::size_t>((c + 1) * kChunk)); ++i)
      store_float(t[T::o].bytes.data(), et, i, static_cast<float>(o[i]));
  });
  auto* lse_out = t[T::lse].as_mutable<float>();
  for (std::size_t r = 0; r < rows; ++r) lse_out[r] = static_cast<float>(lse[r]);
}

Validation validate(const Problem& p, const std::vector<HostTensor>& t, const ValidationSettings& s) {
  std::vector<double> delta;
  const auto in = attention_bwd_inputs(p, t[T::q].values.data(), t[T::k].values.data(), t[T::v].values.data(),
                                       t[T::o].values.data(), t[T::d_o].values.data(), t[T::lse].values.data(), delta);
  Validation total;
  total.passed = true;
  total.tolerance = s.tolerance.at(p.dtype);
  return validate_attention_gradients(p, in, t[T::dq], t[T::dk], t[T::dv], s, total);
}

}  // namespace

const OpSpec& attention_bwd_op() {
  static const OpSpec spec = [] {
    OpSpec s = attention_shaped_op(OpKind::attention_bwd, "attention_bwd", head_dim_axis(attention_bwd_head_dims()));
    s.tensors = tensors;
    s.derive_inputs = derive_inputs;
    s.flops = attention_bwd_flops;
    s.bytes = attention_bwd_bytes;
    s.validate = validate;
    return s;
  }();
  return spec;
}

}  // namespace fabench

// attention_fwd_bwd (issue 19; seed 004, part 3.B): one case's forward, then its backward, each
// timed, with the columns of seed 004's attention benchmark beside fa-bench's own: forward_ms and
// backward_ms (medians over the samples) with their spread, forward_peak_MiB, backward_peak_MiB,
// saved_activations_MiB, and fwd_bwd_status, which keeps an oom of the forward apart from one of
// the backward (seed 004's "OOM" and "OOM(backward)").
//
// Self-timed (ops/op.hpp): a variant is a pipeline of a forward variant (op attention) and a
// backward variant (op attention_bwd), src/variants/attention_fwd_bwd_variants.cpp, and a launch
// times each phase itself (events on the GPU, with the L2 flushed between the phases as before the
// first). time_ms_* summarise the launches' totals (forward + backward).
//
// Tensors: Q, K, V, dO seeded (Q, K, V as the attention op's case of the same shape and seed);
// O and lse written by the forward and read by the backward; dQ, dK, dV written by the backward.
// Models: FLOPs 3.5 x the forward's (forward 1 + backward 2.5); bytes the forward's plus the
// backward's.
#include "ops/attention_fwd_bwd.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>

#include "core/parallel.hpp"
#include "ops/attention_bwd.hpp"
#include "ops/attention_shape.hpp"
#include "ops/op_helpers.hpp"
#include "reference/attention_reference.hpp"

namespace fabench {

namespace {

namespace T = attention_fwd_bwd_tensors;
namespace M = fwd_bwd_metrics;

std::vector<TensorSpec> tensors(const Problem& p) {
  const ElemType et = storage_type(p.dtype);
  const auto [q, kv, q_rows] = attention_counts(p);
  return {
      {"q", et, q, false, Fill::normal},
      {"k", et, kv, false, Fill::normal},
      {"v", et, kv, false, Fill::normal},
      {"do", et, q, false, Fill::normal},
      {"o", et, q, true, Fill::none},
      {"lse", ElemType::f32, q_rows, true, Fill::none},
      {"dq", et, q, true, Fill::none},
      {"dk", et, kv, true, Fill::none},
      {"dv", et, kv, true, Fill::none},
  };
}

double flops(const Problem& p) { return attention_forward_flops(p) + attention_bwd_flops(p); }
double bytes(const Problem& p) { return attention_forward_bytes(p) + attention_bwd_bytes(p); }

std::vector<float> decoded(const HostTensor& t) {
  std::vector<float> out(t.spec.count);
  constexpr std::int64_t kChunk = 1 << 16;
  parallel_for((static_cast<std::int64_t>(out.size()) + kChunk - 1) / kChunk, [&](std::int64_t c) {
    const std::size_t end = std::min(out.size(), static_cast<std::size_t>((c + 1) * kChunk));
    for (std::size_t i = static_cast<std::size_t>(c * kChunk); i < end; ++i)
      out[i] = load_float(t.bytes.data(), t.spec.type, i);
  });
  return out;
}

// O and lse against the forward reference (sampled rows covering every batch and head); then dQ,
// dK, dV against the backward reference fed with the forward's own O and lse (checked just
// before), so the gradients are judged on what the backward was given. Without a valid forward
// the gradients are not checked.
Validation validate(const Problem& p, const std::vector<HostTensor>& t, const ValidationSettings& s) {
  const float* q = t[T::q].values.data();
  const float* k = t[T::k].values.data();
  const float* v = t[T::v].values.data();
  const float* lse = t[T::lse].as<float>();
  Validation total;
  total.passed = true;
  total.tolerance = s.tolerance.at(p.dtype);
  fold_validation(total,
                  validate_rows(p, {t[T::o], p.batch * p.heads, p.seq_q, p.head_dim, true}, s,
                                [&](std::int64_t row, double* ref, RowError& e) {
                                  double ref_lse = 0;
                                  attention_reference_row(p, q, k, v, row / (p.heads * p.seq_q),
                                                          (row / p.seq_q) % p.heads, row % p.seq_q, ref, &ref_lse);
                                  check_lse(lse[row], ref_lse, e);
                                }),
                  "forward o");
  if (!total.passed) return total;
  const std::vector<float> o = decoded(t[T::o]);
  std::vector<double> delta;
  const auto in = attention_bwd_inputs(p, q, k, v, o.data(), t[T::d_o].values.data(), lse, delta);
  return validate_attention_gradients(p, in, t[T::dq], t[T::dk], t[T::dv], s, total);
}

// Median and standard deviation (n - 1) of one named figure over the samples.
void summarize_phase(const std::vector<LaunchMetrics>& samples, const char* name, Result& r) {
  std::vector<double> xs;
  for (const LaunchMetrics& m : samples)
    if (auto it = m.values.find(name); it != m.values.end()) xs.push_back(it->second);
  if (xs.empty()) return;
  std::sort(xs.begin(), xs.end());
  const std::size_t n = xs.size();
  double mean = 0, ss = 0;
  for (double x : xs) mean += x / static_cast<double>(n);
  for (double x : xs) ss += (x - mean) * (x - mean);
  r.metrics[name] = n % 2 ? xs[n / 2] : 0.5 * (xs[n / 2 - 1] + xs[n / 2]);
  r.metrics[std::string(name) + "_std"] = n > 1 ? std::sqrt(ss / static_cast<double>(n - 1)) : 0.0;
}

void summarize(const Problem&, const std::vector<LaunchMetrics>& samples, Result& r) {
  summarize_phase(samples, M::forward_ms, r);
  summarize_phase(samples, M::backward_ms, r);
  for (const char* memory : {M::forward_peak, M::backward_peak, M::saved_activations})
    if (auto it = samples.back().values.find(memory); it != samples.back().values.end()) r.metrics[memory] = it->second;
}

ExtraColumn metric_column(std::string name) {
  return {name, ColumnType::real, false, [name](const Result& r) {
            auto it = r.metrics.find(name);
            return it == r.metrics.end() ? std::string() : csv_real(it->second);
          }};
}

// seed 004's status: ok, or which phase ran out of memory; fa-bench's status otherwise.
std::string fwd_bwd_status(const Result& r) {
  if (r.status != Status::oom) return std::string(to_string(r.status));
  return r.reason.rfind(M::backward_oom_prefix, 0) == 0 ? "oom(backward)" : "oom(forward)";
}

}  // namespace

const OpSpec& attention_fwd_bwd_op() {
  static const OpSpec spec = [] {
    OpSpec s = attention_shaped_op(OpKind::attention_fwd_bwd, "attention_fwd_bwd", head_dim_axis(attention_bwd_head_dims()));
    s.tensors = tensors;
    s.flops = flops;
    s.bytes = bytes;
    s.validate = validate;
    s.extra_columns = {metric_column(M::forward_ms),
                       metric_column(std::string(M::forward_ms) + "_std"),
                       metric_column(M::backward_ms),
                       metric_column(std::string(M::backward_ms) + "_std"),
                       metric_column(M::forward_peak),
                       metric_column(M::backward_peak),
                       metric_column(M::saved_activations),
                       {"fwd_bwd_status", ColumnType::text, false, fwd_bwd_status}};
    s.self_timed = true;
    s.summarize = summarize;
    return s;
  }();
  return spec;
}

}  // namespace fabench

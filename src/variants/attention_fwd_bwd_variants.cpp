// Registered attention_fwd_bwd variants: pipelines, each a forward variant (op attention) and a
// backward variant (op attention_bwd) registered on their own, run one after the other on one
// case's tensors and timed phase by phase. A pipeline's parameters are its phases', prefixed
// "fwd_" and "bwd_" ({"name": "fwd_bwd.fa2", "params": {"fwd_block_m": [64, 128]}}); it supports
// a case when both phases do, and says which phase refuses it otherwise.
#include <algorithm>
#include <chrono>
#include <fmt/format.h>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/op_tensors.hpp"
#include "core/variant.hpp"
#include "ops/attention_fwd_bwd.hpp"
#include "ops/registry.hpp"
#include "run/device.hpp"
#include "variants/register.hpp"

namespace fabench {

namespace {

struct Pipeline {
  const char* name;
  const char* forward;
  const char* backward;
};

constexpr Pipeline kPipelines[] = {
    {"fwd_bwd.cpu_reference", "attn.cpu_reference", "bwd.cpu_reference"},
    {"fwd_bwd.naive", "attn.naive", "bwd.naive"},  // seed 004's plain autograd path
    {"fwd_bwd.fa2", "attn.fa2", "bwd.fa2"},        // seed 004's flash_triton, fp32 on CUDA cores
    {"fwd_bwd.fa2_mma", "attn.fa2_mma", "bwd.fa2_mma"},  // tensor cores, fp16/bf16
    {"fwd_bwd.wgmma", "attn.wgmma", "bwd.wgmma"},        // Hopper's warpgroup MMA, fp16/bf16
};

constexpr const char* kForwardPrefix = "fwd_";
constexpr const char* kBackwardPrefix = "bwd_";

Problem as_op(Problem p, OpKind op) {
  p.op = op;
  return p;
}

// The parameters of one phase: those with its prefix, the prefix dropped.
Params phase_params(const Params& all, const std::string& prefix) {
  Params out;
  for (const auto& [name, value] : all)
    if (name.rfind(prefix, 0) == 0) out[name.substr(prefix.size())] = value;
  return out;
}

std::vector<TunableParam> prefixed_params(const Variant& v, const std::string& prefix) {
  std::vector<TunableParam> out;
  for (TunableParam tp : v.params) {
    tp.name = prefix + tp.name;
    tp.help = fmt::format("{}: {}", v.name, tp.help);
    out.push_back(std::move(tp));
  }
  return out;
}

template <class X>
std::vector<X> intersection(const std::vector<X>& a, const std::vector<X>& b) {
  std::vector<X> out;
  for (const X& x : a)
    if (std::find(b.begin(), b.end(), x) != b.end()) out.push_back(x);
  return out;
}

// Head dims: empty is any.
std::vector<std::int64_t> common_head_dims(const Variant& a, const Variant& b) {
  if (a.head_dims.empty()) return b.head_dims;
  if (b.head_dims.empty()) return a.head_dims;
  return intersection(a.head_dims, b.head_dims);
}

double mib(std::size_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

std::size_t tensor_bytes(const Problem& p) {
  std::size_t total = 0;
  for (const TensorSpec& t : op_tensors(p)) total += t.count * elem_size(t.type);
  return total;
}

// One phase as the pipeline runs it: its own problem, parameters, tensors and workspace.
struct Phase {
  const Variant& variant;
  Problem problem;
  Params params;
  std::vector<void*> tensors;
  std::size_t workspace_bytes = 0;
  const char* name;  // "forward", "backward": prefixes its out-of-memory reason
};

Phase make_phase(const Variant& v, const Problem& p, OpKind op, const Params& all, const char* prefix,
                 std::vector<void*> tensors, const char* name) {
  Phase ph{v, as_op(p, op), phase_params(all, prefix), std::move(tensors), 0, name};
  if (v.workspace_bytes) ph.workspace_bytes = v.workspace_bytes(ph.problem, ph.params);
  return ph;
}

double run_cpu_phase(const Phase& ph) {
  const auto t0 = std::chrono::steady_clock::now();
  ph.variant.launch(LaunchArgs{ph.problem, ph.params, ph.tensors});
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

class EventPair {
 public:
  EventPair() {
    cuda_check(cudaEventCreate(&start), "cudaEventCreate");
    cuda_check(cudaEventCreate(&stop), "cudaEventCreate");
  }
  ~EventPair() {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
  }
  EventPair(const EventPair&) = delete;
  EventPair& operator=(const EventPair&) = delete;
  cudaEvent_t start = nullptr, stop = nullptr;
};

// The phase's workspace is allocated before its start event and freed after its stop (a phase
// holds only its own: the forward's is gone when the backward allocates), and an allocation that
// fails names the phase ("backward: workspace of N bytes: out of memory ...").
// measured: pending. Launch latency between the start event and the kernel
// is inside the phase's time, as in the seed's own events; it is microseconds against the
// milliseconds of the cases seed 004 sweeps.
double run_gpu_phase(const Phase& ph, cudaStream_t stream) {
  DeviceBuffer workspace;
  try {
    workspace = DeviceBuffer(ph.workspace_bytes);
  } catch (const CudaError& e) {
    throw CudaError(e.code, fmt::format("{}: workspace of {} bytes", ph.name, ph.workspace_bytes));
  }
  EventPair ev;
  cuda_check(cudaEventRecord(ev.start, stream), "cudaEventRecord");
  ph.variant.launch(LaunchArgs{ph.problem, ph.params, ph.tensors, workspace.get(), stream});
  cuda_check(cudaPeekAtLastError(), "kernel launch");
  cuda_check(cudaEventRecord(ev.stop, stream), "cudaEventRecord");
  cuda_check(cudaEventSynchronize(ev.stop), ph.name);
  float ms = 0;
  cuda_check(cudaEventElapsedTime(&ms, ev.start, ev.stop), "cudaEventElapsedTime");
  return ms;
}

void launch_pipeline(const Variant& fwd, const Variant& bwd, const LaunchArgs& la) {
  namespace T = attention_fwd_bwd_tensors;
  const auto& t = la.tensors;
  const Phase forward = make_phase(fwd, la.problem, OpKind::attention, la.params, kForwardPrefix,
                                   {t[T::q], t[T::k], t[T::v], t[T::o], t[T::lse]}, "forward");
  const Phase backward =
      make_phase(bwd, la.problem, OpKind::attention_bwd, la.params, kBackwardPrefix,
                 {t[T::q], t[T::k], t[T::v], t[T::o], t[T::d_o], t[T::lse], t[T::dq], t[T::dk], t[T::dv]}, "backward");
  double forward_ms = 0, backward_ms = 0;
  if (fwd.backend == Backend::cpu) {
    forward_ms = run_cpu_phase(forward);
    backward_ms = run_cpu_phase(backward);
  } else {
    forward_ms = run_gpu_phase(forward, la.stream);
    if (la.flush_l2) la.flush_l2();  // the backward starts from an L2 as cold as the forward's
    backward_ms = run_gpu_phase(backward, la.stream);
  }
  if (!la.metrics) return;
  namespace M = fwd_bwd_metrics;
  const std::vector<TensorSpec> specs = op_tensors(la.problem);
  la.metrics->total_ms = forward_ms + backward_ms;
  la.metrics->values[M::forward_ms] = forward_ms;
  la.metrics->values[M::backward_ms] = backward_ms;
  la.metrics->values[M::forward_peak] = mib(tensor_bytes(forward.problem) + forward.workspace_bytes);
  la.metrics->values[M::backward_peak] = mib(tensor_bytes(backward.problem) + backward.workspace_bytes);
  la.metrics->values[M::saved_activations] =
      mib(specs[T::o].count * elem_size(specs[T::o].type) + specs[T::lse].count * elem_size(specs[T::lse].type));
}

Variant make_pipeline(const Pipeline& pl, const Variant& fwd, const Variant& bwd) {
  if (fwd.op != OpKind::attention || bwd.op != OpKind::attention_bwd || fwd.backend != bwd.backend)
    throw std::logic_error(fmt::format("pipeline {}: {} and {} are not a forward and a backward of one backend",
                                       pl.name, fwd.name, bwd.name));
  Variant v;
  v.name = pl.name;
  v.op = OpKind::attention_fwd_bwd;
  v.backend = fwd.backend;
  v.summary = fmt::format("{}, then {} on its O and lse, each phase timed", fwd.name, bwd.name);
  v.dtypes = intersection(fwd.dtypes, bwd.dtypes);
  v.head_dims = common_head_dims(fwd, bwd);
  v.params = prefixed_params(fwd, kForwardPrefix);
  for (TunableParam& tp : prefixed_params(bwd, kBackwardPrefix)) v.params.push_back(std::move(tp));
  v.constraints = fmt::format("forward: {}; backward: {}", fwd.constraints.empty() ? "none" : fwd.constraints,
                              bwd.constraints.empty() ? "none" : bwd.constraints);
  v.supports = [fwd, bwd](const Problem& p, const Params& params, const DeviceCaps& caps) -> std::optional<std::string> {
    if (auto why = unsupported_reason(fwd, as_op(p, OpKind::attention), phase_params(params, kForwardPrefix), caps))
      return fmt::format("forward ({}): {}", fwd.name, *why);
    if (auto why = unsupported_reason(bwd, as_op(p, OpKind::attention_bwd), phase_params(params, kBackwardPrefix), caps))
      return fmt::format("backward ({}): {}", bwd.name, *why);
    return std::nullopt;
  };
  v.launch = [fwd, bwd](const LaunchArgs& la) { launch_pipeline(fwd, bwd, la); };
  return v;
}

}  // namespace

void register_attention_fwd_bwd_variants(Registry& r) {
  for (const Pipeline& pl : kPipelines) {
    const Variant* fwd = r.find(pl.forward);
    const Variant* bwd = r.find(pl.backward);
    if (!fwd || !bwd)
      throw std::logic_error(fmt::format("pipeline {}: {} or {} is not registered", pl.name, pl.forward, pl.backward));
    r.add(make_pipeline(pl, *fwd, *bwd));  // copies: the registry's storage may move as it grows
  }
}

}  // namespace fabench

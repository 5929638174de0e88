#include "run/runner.hpp"

#include <cstring>
#include <fmt/format.h>

#include "ops/registry.hpp"
#include "run/validate.hpp"

namespace fabench {

namespace {

void record_validation(const Problem& p, const std::vector<HostTensor>& tensors, const ValidationSettings& vs,
                       Result& r) {
  if (!vs.enabled) return;
  Validation val = validate_outputs(p, tensors, vs);
  r.rel_l2_err = val.rel_l2;
  r.max_abs_err = val.max_abs;
  if (!val.passed) {
    r.status = Status::mismatch;
    r.reason = val.reason;
  }
}

// A case that ran out of time before its minimum sample count is a timeout; its timings are kept.
void record_timing(const TimingStats& stats, const TimingSettings& ts, Result& r) {
  r.timing = stats;
  if (r.status == Status::ok && stats.hit_time_limit && stats.samples < ts.min_samples) {
    r.status = Status::timeout;
    r.reason = fmt::format("time limit {:g} s reached after {} of {} samples", ts.max_time_s, stats.samples,
                           ts.min_samples);
  }
  if (r.status == Status::ok && stats.throttled > 0 && stats.throttled == stats.samples)
    r.reason = fmt::format("every sample ran over {:g}% below the highest SM clock seen (timing.max_clock_drop)",
                           100 * ts.max_clock_drop);
}

}  // namespace

void record_self_timed(const Problem& p, const TimingSettings& ts, Result& r,
                       const std::function<LaunchMetrics()>& launch) {
  std::vector<LaunchMetrics> samples;
  record_timing(time_self_timed(launch, ts, samples), ts, r);
  const OpSpec& op = op_spec(p.op);
  if (op.summarize && !samples.empty()) op.summarize(p, samples, r);
}

double bandwidth_ceiling_gbps(const Ceilings& ceilings, const OpSpec& op) {
  switch (op.bandwidth_ceiling) {
    case BandwidthCeiling::copy: return ceilings.copy_gbps;
    case BandwidthCeiling::read: return ceilings.read_gbps;
  }
  return 0;
}

struct Runner::Inputs {
  std::string key;
  std::vector<HostTensor> host;
  std::vector<DeviceBuffer> device;  // inputs only; outputs are allocated per case
  bool on_device = false;
};

Runner::Runner(const Registry& registry, const DeviceInfo& device, std::optional<Ceilings> ceilings)
    : registry_(registry), device_(device), ceilings_(std::move(ceilings)) {}
Runner::~Runner() = default;

Runner::Inputs& Runner::inputs_for(const Problem& p, bool need_device) {
  const std::string key = p.key();
  if (!inputs_ || inputs_->key != key) {
    inputs_.reset();  // free the previous problem's memory first
    auto in = std::make_unique<Inputs>();
    in->key = key;
    // Derived inputs (attention_bwd's forward) on this sweep's device when a GPU variant asks first.
    in->host = make_host_tensors(p, need_device && device_.caps.available);
    inputs_ = std::move(in);
  }
  if (need_device && !inputs_->on_device) {
    inputs_->device.clear();
    for (const HostTensor& t : inputs_->host) {
      if (t.spec.output) {
        inputs_->device.emplace_back();
        continue;
      }
      DeviceBuffer b(t.size_bytes());
      if (t.size_bytes())
        cuda_check(cudaMemcpy(b.get(), t.bytes.data(), t.size_bytes(), cudaMemcpyHostToDevice), "upload inputs");
      inputs_->device.push_back(std::move(b));
    }
    // A pageable cudaMemcpy may return before its DMA lands, and kernels run on a non-blocking
    // stream that does not wait for the legacy stream: finish the uploads before any launch.
    cuda_check(cudaDeviceSynchronize(), "upload inputs");
    inputs_->on_device = true;
  }
  return *inputs_;
}

Result Runner::run(const ExpandedCase& ec) {
  Result r;
  r.c = ec.c;
  r.tolerance = ec.experiment->validation.tolerance.at(ec.c.problem.dtype);
  const Variant* v = registry_.find(ec.c.variant);
  r.gpu = v->backend == Backend::cpu ? "cpu" : device_.caps.name;
  if (auto why = unsupported_reason(*v, ec.c.problem, ec.c.params, device_.caps)) {
    r.status = Status::unsupported;
    r.reason = *why;
    return r;
  }
  if (v->backend == Backend::gpu && context_lost_) {
    r.status = Status::fault;
    r.reason = "not run: an earlier case left the CUDA context unusable";
    return r;
  }
  try {
    if (v->backend == Backend::gpu)
      run_gpu(*v, ec, r);
    else
      run_cpu(*v, ec, r);
  } catch (const CudaError& e) {
    switch (classify_cuda_error(e.code)) {
      case CudaFailure::out_of_memory: r.status = Status::oom; break;
      case CudaFailure::sticky:
        r.status = Status::fault;
        context_lost_ = true;
        break;
      default: r.status = Status::launch_error; break;
    }
    r.reason = e.what();
    r.timing.reset();
    cudaGetLastError();  // clear a non-sticky error so the next case starts clean
  } catch (const std::bad_alloc&) {
    r.status = Status::oom;
    r.reason = "host memory exhausted";
  } catch (const VariantUnsupported& e) {
    r.status = Status::unsupported;
    r.reason = e.what();
    r.timing.reset();
  } catch (const std::exception& e) {  // a library's own error (cuDNN, cuBLAS): the case, not the sweep
    r.status = Status::launch_error;
    r.reason = e.what();
    r.timing.reset();
  }
  finish_metrics(r);
  return r;
}

void Runner::run_gpu(const Variant& v, const ExpandedCase& ec, Result& r) {
  const Problem& p = ec.c.problem;
  if (!stream_) {
    stream_ = std::make_unique<CudaStream>();
    flusher_ = std::make_unique<L2Flusher>(device_.l2_bytes);
  }
  Inputs& in = inputs_for(p, true);
  std::size_t total_bytes = 0;
  std::vector<DeviceBuffer> outputs;
  std::vector<void*> ptrs;
  cudaStream_t stream = stream_->get();
  for (std::size_t i = 0; i < in.host.size(); ++i) {
    const HostTensor& t = in.host[i];
    total_bytes += t.size_bytes();
    if (t.spec.output) {
      outputs.emplace_back(t.size_bytes());
      // Poison: 0xFF bytes are NaN in fp32, fp16 and bf16, so an unwritten element fails validation.
      // On the launch stream: a plain cudaMemset runs on the legacy stream, which the non-blocking
      // launch stream does not wait for, and it once landed after a short kernel's writes (all of
      // O "unwritten" at b1 h32 s1024 on the H200).
      cuda_check(cudaMemsetAsync(outputs.back().get(), 0xFF, t.size_bytes(), stream), "poison outputs");
      ptrs.push_back(outputs.back().get());
    } else {
      ptrs.push_back(in.device[i].get());
    }
  }
  const std::size_t ws_bytes = v.workspace_bytes ? v.workspace_bytes(p, ec.c.params) : 0;
  DeviceBuffer workspace(ws_bytes);
  r.peak_mem_mib = static_cast<double>(total_bytes + ws_bytes) / (1 << 20);
  r.workspace_mib = static_cast<double>(ws_bytes) / (1 << 20);

  LaunchMetrics validated_metrics;  // a self-timed op's first launch measures itself too; not a sample
  LaunchMetrics* self_metrics = op_spec(p.op).self_timed ? &validated_metrics : nullptr;
  auto launch = [&](cudaStream_t s) {
    v.launch(LaunchArgs{p, ec.c.params, ptrs, workspace.get(), s, self_metrics});
    cuda_check(cudaPeekAtLastError(), "kernel launch");
  };
  launch(stream);
  cuda_check(cudaStreamSynchronize(stream), "validated run");

  // Outputs are read back into the cached host tensors' output slots: scratch owned by this problem.
  std::size_t out_index = 0;
  for (HostTensor& t : in.host)
    if (t.spec.output)
      cuda_check(cudaMemcpy(t.bytes.data(), outputs[out_index++].get(), t.size_bytes(), cudaMemcpyDeviceToHost),
                 "read outputs");
  record_validation(p, in.host, ec.experiment->validation, r);
  const TimingSettings& ts = ec.experiment->timing;
  if (op_spec(p.op).self_timed) {
    // The launch times itself; the L2 is flushed before it, outside its events.
    record_self_timed(p, ts, r, [&] {
      flusher_->flush(ts.l2, stream);
      cuda_check(cudaStreamSynchronize(stream), "L2 flush");
      LaunchMetrics m;
      v.launch(LaunchArgs{p, ec.c.params, ptrs, workspace.get(), stream, &m, [&] { flusher_->flush(ts.l2, stream); }});
      cuda_check(cudaPeekAtLastError(), "kernel launch");
      cuda_check(cudaStreamSynchronize(stream), "self-timed launch");
      return m;
    });
    return;
  }
  record_timing(time_on_gpu(launch, stream, flusher_.get(), ts), ts, r);
}

void Runner::run_cpu(const Variant& v, const ExpandedCase& ec, Result& r) {
  const Problem& p = ec.c.problem;
  Inputs& in = inputs_for(p, false);
  std::vector<void*> ptrs;
  std::size_t total_bytes = 0;
  for (HostTensor& t : in.host) {
    total_bytes += t.size_bytes();
    if (t.spec.output) std::memset(t.bytes.data(), 0xFF, t.size_bytes());  // poison, as on the GPU
    ptrs.push_back(t.data());
  }
  r.peak_mem_mib = static_cast<double>(total_bytes) / (1 << 20);
  const bool self_timed = op_spec(p.op).self_timed;
  LaunchMetrics validated_metrics;
  auto launch = [&] {
    v.launch(LaunchArgs{p, ec.c.params, ptrs, nullptr, nullptr, self_timed ? &validated_metrics : nullptr});
  };
  launch();
  record_validation(p, in.host, ec.experiment->validation, r);
  const TimingSettings& ts = ec.experiment->timing;
  if (self_timed) {
    record_self_timed(p, ts, r, [&] {
      LaunchMetrics m;
      v.launch(LaunchArgs{p, ec.c.params, ptrs, nullptr, nullptr, &m});
      return m;
    });
    return;
  }
  record_timing(time_on_cpu(launch, ts), ts, r);
}

void Runner::finish_metrics(Result& r) const {
  if (!r.timing || r.timing->samples == 0 || r.timing->median_ms <= 0) return;
  const double seconds = r.timing->median_ms * 1e-3;
  const OpSpec& op = op_spec(r.c.problem.op);
  r.tflops = op.flops(r.c.problem) / seconds / 1e12;
  r.gbps = op.bytes(r.c.problem) / seconds / 1e9;
  const Variant* v = registry_.find(r.c.variant);
  if (ceilings_ && v->backend == Backend::gpu) {
    if (const double bw = bandwidth_ceiling_gbps(*ceilings_, op); bw > 0) r.pct_peak_bw = 100.0 * r.gbps / bw;
    auto it = ceilings_->gemm_tflops.find(r.c.problem.dtype);
    if (it != ceilings_->gemm_tflops.end() && it->second > 0) r.pct_peak_flops = 100.0 * r.tflops / it->second;
  }
}

}  // namespace fabench

#pragma once
// Runs one case end to end: tensors, poisoned outputs, one validated launch, then timing.
// Anything that cannot run becomes a status, never a crash.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/expand.hpp"
#include "core/result.hpp"
#include "core/variant.hpp"
#include "ops/op.hpp"
#include "run/calibration.hpp"
#include "run/device.hpp"
#include "run/host_tensors.hpp"
#include "run/timer.hpp"

namespace fabench {

// The measured bandwidth an op's pct_peak_bw divides by (its OpSpec picks which); 0 when not measured.
double bandwidth_ceiling_gbps(const Ceilings& ceilings, const OpSpec& op);

// A self-timed op's sampling (OpSpec::self_timed): time_self_timed over `launch`, the timing
// recorded as for any case (a timeout when short of min_samples), then the op's summarize fills
// r.metrics from the samples. Used by Runner for both backends.
void record_self_timed(const Problem& p, const TimingSettings& ts, Result& r,
                       const std::function<LaunchMetrics()>& launch);

class Runner {
 public:
  Runner(const Registry& registry, const DeviceInfo& device, std::optional<Ceilings> ceilings);
  ~Runner();

  Result run(const ExpandedCase& ec);

  // True after a sticky CUDA error (illegal address...): this process can run no more GPU cases.
  bool context_lost() const { return context_lost_; }

 private:
  struct Inputs;  // host and device copies of the current problem's tensors, reused across variants
  Inputs& inputs_for(const Problem& p, bool need_device);
  void run_gpu(const Variant& v, const ExpandedCase& ec, Result& r);
  void run_cpu(const Variant& v, const ExpandedCase& ec, Result& r);
  void finish_metrics(Result& r) const;

  const Registry& registry_;
  DeviceInfo device_;
  std::optional<Ceilings> ceilings_;
  std::unique_ptr<CudaStream> stream_;
  std::unique_ptr<L2Flusher> flusher_;
  std::unique_ptr<Inputs> inputs_;
  bool context_lost_ = false;
};

}  // namespace fabench

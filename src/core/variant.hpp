#pragma once
// A Variant is one registered implementation of an op: a name, what it supports, and a launcher.
// Families register their variants explicitly (register_softmax_variants(Registry&)); no static
// initialisation tricks, so the list in `fa-bench list` is exactly what main() registered.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/problem.hpp"
#include "core/result.hpp"

namespace fabench {

enum class Backend { cpu, gpu };

// What a variant may ask of the device when deciding whether it can run.
struct DeviceCaps {
  bool available = false;
  std::string unavailable_reason;  // e.g. "no CUDA device: ..." when !available
  std::string name;
  int cc_major = 0, cc_minor = 0;
  int sm_count = 0;
  std::size_t smem_per_block_optin = 0;  // bytes a block may use after opting in
  std::size_t total_mem = 0;
};

struct TunableParam {
  std::string name;
  std::int64_t default_value = 0;
  std::vector<std::int64_t> allowed;  // the compiled/legal values; empty means any value >= 1
  std::string help;
};

// Device (or host, for cpu variants) pointers in the order the op defines (see core/op_tensors.hpp).
struct LaunchArgs {
  const Problem& problem;
  const Params& params;
  const std::vector<void*>& tensors;
  void* workspace = nullptr;
  cudaStream_t stream = nullptr;
  // Set for the ops whose OpSpec is self_timed: the launch fills in what it measured of itself.
  LaunchMetrics* metrics = nullptr;
  // Set for the timed launches of a self-timed op on the GPU: flushes the L2 as timing.l2 says, on
  // the stream. A launch that times several phases (attention_fwd_bwd: forward, then backward)
  // calls it between them, outside its events, so each phase starts as the first did.
  std::function<void()> flush_l2 = nullptr;
};

using SupportCheck = std::function<std::optional<std::string>(const Problem&, const Params&, const DeviceCaps&)>;

struct Variant {
  std::string name;  // "<family>.<version>", e.g. "softmax.naive"
  OpKind op = OpKind::softmax;
  Backend backend = Backend::gpu;
  std::string summary;                 // one line: what it does
  std::vector<DType> dtypes;           // dtypes it accepts
  std::vector<std::int64_t> head_dims; // attention head dims it accepts; empty = any
  std::vector<TunableParam> params;    // tunable parameters with defaults and allowed values
  std::string constraints;             // free text for `list`, e.g. "seq_k * 4 bytes per row of S"
  SupportCheck supports;               // extra checks beyond dtype/head_dim/params; may be empty
  std::function<std::size_t(const Problem&, const Params&)> workspace_bytes;  // may be empty
  std::function<void(const LaunchArgs&)> launch;
};

// A launcher may throw this when a library refuses a case at run time (cuDNN's NOT_SUPPORTED):
// the case becomes an `unsupported` row with the message, not an error.
struct VariantUnsupported : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Fills in defaults for parameters the case did not set.
Params with_defaults(const Variant& v, const Params& requested);

// Why `v` cannot run `p` with `params` on `caps`, or nothing if it can.
std::optional<std::string> unsupported_reason(const Variant& v, const Problem& p, const Params& params,
                                              const DeviceCaps& caps);

class Registry {
 public:
  void add(Variant v);  // throws on a duplicate name
  const Variant* find(const std::string& name) const;
  const std::vector<Variant>& all() const { return variants_; }
  std::vector<const Variant*> for_op(OpKind op) const;

 private:
  std::vector<Variant> variants_;
};

// Registers every family compiled into this build.
void register_all_variants(Registry& r);

}  // namespace fabench

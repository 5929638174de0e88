#pragma once
// attention_fwd_bwd's names shared by the op (src/ops/attention_fwd_bwd.cpp) and its pipelines
// (src/variants/attention_fwd_bwd_variants.cpp): the figures a launch reports of itself.
namespace fabench::fwd_bwd_metrics {

// LaunchMetrics::values of one launch (each a sample of its own; total_ms is their sum).
inline constexpr const char* forward_ms = "forward_ms";
inline constexpr const char* backward_ms = "backward_ms";
// The device (or host) memory each phase holds, and what the forward hands to the backward beyond
// Q, K and V (O and the lse), in MiB: constant over the launches.
inline constexpr const char* forward_peak = "forward_peak_MiB";
inline constexpr const char* backward_peak = "backward_peak_MiB";
inline constexpr const char* saved_activations = "saved_activations_MiB";

// An out-of-memory reason that starts with this is the backward's (the column fwd_bwd_status says
// oom(backward)); any other oom is the forward's, which needs the tensors first.
inline constexpr const char* backward_oom_prefix = "backward:";

}  // namespace fabench::fwd_bwd_metrics

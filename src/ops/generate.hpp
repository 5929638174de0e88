#pragma once
// What the generate op (ops/generate.cpp) shares with its variant and tests.
#include <vector>

#include "core/kv_cache_layout.hpp"
#include "core/problem.hpp"
#include "core/result.hpp"

namespace fabench {

// The final KV cache: P + T tokens per sequence, contiguous or paged by p.page_size.
KvCacheShape generate_cache_shape(const Problem& p);

// Result::metrics from the samples' LaunchMetrics: ttft_ms (median over samples of values
// "ttft_ms"), tbt_ms_mean / p50 / p90 / p99 over every "step_ms" of every sample (linear
// interpolation between ranks, as numpy.percentile), tokens_per_s = batch * 1000 / tbt_ms_mean.
void summarize_generate(const Problem& p, const std::vector<LaunchMetrics>& samples, Result& r);

}  // namespace fabench

// The split-KV decode kernels share state between launches: the merge counters (one per kernel
// file, left at zero by each unit's merging block) and a workspace of partials that later launches
// overwrite. Checked here by launching plans of different split counts and both versions, again and
// again, on one workspace holding the previous launches' partials: each launch's output equals the
// first launch of its plan bit for bit (the merge reads the partials in a fixed order) and the
// unsplit kernel's within fp16 rounding. A counter left off zero would merge a unit early, or never.
#include <catch2/catch.hpp>
#include <cuda_fp16.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "kernels/decode/decode.h"
#include "run/device.hpp"

using namespace fabench;

namespace {

template <class T>
DeviceBuffer upload(const std::vector<T>& host) {
  DeviceBuffer buf(host.size() * sizeof(T));
  cuda_check(cudaMemcpy(buf.get(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice), "upload");
  return buf;
}

template <class T>
std::vector<T> download(const DeviceBuffer& buf, std::size_t count) {
  std::vector<T> host(count);
  cuda_check(cudaMemcpy(host.data(), buf.get(), count * sizeof(T), cudaMemcpyDeviceToHost), "download");
  return host;
}

// Seeded values in [-1, 1) as fp16.
std::vector<__half> random_halves(std::size_t count, std::uint32_t seed) {
  std::vector<__half> out(count);
  std::uint32_t x = seed;
  for (auto& v : out) {
    x = x * 1664525u + 1013904223u;
    v = __float2half(static_cast<float>(x >> 8) / static_cast<float>(1u << 23) - 1.0f);
  }
  return out;
}

// An fp16 case's inputs and outputs on the device (seeded q, K and V; `lengths` per sequence),
// wired into `args`; run() launches a plan on poisoned outputs (NaN) and reads them back.
struct HalfDecodeCase {
  DecodeArgs args;
  std::size_t rows;
  DeviceBuffer q, k, v, lengths, o, lse;

  HalfDecodeCase(DecodeArgs a, const std::vector<std::int32_t>& lens, std::uint32_t seed)
      : args(a),
        rows(static_cast<std::size_t>(a.batch * a.heads * a.q_len)),
        q(upload(random_halves(rows * a.head_dim, seed))),
        k(upload(random_halves(cache_elements(a), seed + 1))),
        v(upload(random_halves(cache_elements(a), seed + 2))),
        lengths(upload(lens)),
        o(rows * a.head_dim * sizeof(__half)),
        lse(rows * sizeof(float)) {
    args.elem = KernelElem::f16;
    args.q = q.get(), args.k_cache = k.get(), args.v_cache = v.get(), args.o = o.get();
    args.lse = static_cast<float*>(lse.get());
    args.lengths = static_cast<const std::int32_t*>(lengths.get());
  }
  static std::size_t cache_elements(const DecodeArgs& a) {
    return static_cast<std::size_t>(a.batch * a.kv_heads * a.max_len * a.head_dim);
  }
  std::pair<std::vector<__half>, std::vector<float>> run(const DecodeSplitPlan& plan, void* workspace) {
    cuda_check(cudaMemset(o.get(), 0xFF, rows * args.head_dim * sizeof(__half)), "poison o");
    cuda_check(cudaMemset(lse.get(), 0xFF, rows * sizeof(float)), "poison lse");
    REQUIRE(decode_split(args, plan, workspace, nullptr));
    cuda_check(cudaDeviceSynchronize(), "decode_split");
    return {download<__half>(o, rows * args.head_dim), download<float>(lse, rows)};
  }
};

}  // namespace

TEST_CASE("decode's split merge: launches of different plans and versions on one workspace", "[gpu][decode]") {
  int sm_count = 0;
  cuda_check(cudaDeviceGetAttribute(&sm_count, cudaDevAttrMultiProcessorCount, 0), "SM count");

  // Two sequences of different lengths (one split of the short one is empty at 16 splits), GQA 4.
  DecodeArgs shape;
  shape.batch = 2, shape.heads = 8, shape.kv_heads = 2, shape.q_len = 1, shape.max_len = 1031, shape.head_dim = 128;
  shape.longest = 1031, shape.total_tokens = 1031 + 300;
  shape.scale = 1.0f / std::sqrt(128.0f);
  HalfDecodeCase c(shape, {1031, 300}, 1);
  const DecodeArgs& a = c.args;
  const std::size_t rows = c.rows;

  // (version, splits) in launch order: repeats, a change of split count, the other version between.
  const std::vector<std::pair<int, int>> launches = {{3, 16}, {3, 16}, {3, 5}, {2, 7}, {3, 16}, {3, 5}, {2, 7}, {3, 17}};
  std::size_t workspace_bytes = 0;
  for (const auto& [version, splits] : launches)
    workspace_bytes = std::max(workspace_bytes, decode_split_plan(a, version, sm_count, splits).workspace_bytes);
  REQUIRE(workspace_bytes > 0);
  DeviceBuffer workspace(workspace_bytes);
  cuda_check(cudaMemset(workspace.get(), 0xFF, workspace_bytes), "poison workspace");  // NaN: none of it may be read

  auto run = [&](int version, int splits) {
    const DecodeSplitPlan plan = decode_split_plan(a, version, sm_count, splits);
    REQUIRE(plan.compiled);
    REQUIRE(plan.splits == splits);
    return c.run(plan, workspace.get());
  };
  const auto [o_unsplit, lse_unsplit] = run(3, 1);

  std::map<std::pair<int, int>, std::vector<__half>> first_o;
  for (std::size_t i = 0; i < launches.size(); ++i) {
    const auto [version, splits] = launches[i];
    INFO(fmt::format("launch {}: version {}, {} splits", i, version, splits));
    const auto [o_split, lse_split] = run(version, splits);

    double worst_o = 0, worst_lse = 0;
    for (std::size_t e = 0; e < o_split.size(); ++e)
      worst_o = std::max(worst_o, std::fabs(double(__half2float(o_split[e])) - double(__half2float(o_unsplit[e]))));
    for (std::size_t r = 0; r < rows; ++r)
      worst_lse = std::max(worst_lse, std::fabs(double(lse_split[r]) - double(lse_unsplit[r])));
    INFO(fmt::format("largest difference from the unsplit kernel: o {:.3g}, lse {:.3g}", worst_o, worst_lse));
    CHECK(worst_o <= 2e-3);  // |o| < 1: a few fp16 ulps of rounding apart
    CHECK(worst_lse <= 1e-4);

    const auto seen = first_o.find({version, splits});
    if (seen == first_o.end()) {
      first_o[{version, splits}] = o_split;
    } else {
      bool same = true;
      for (std::size_t e = 0; e < o_split.size(); ++e)
        same = same && __half_as_ushort(o_split[e]) == __half_as_ushort(seen->second[e]);
      CHECK(same);  // the merge reads the partials in a fixed order: a repeat is bit-identical
    }
  }
}

// Version 3's wide instance (8 warps, 128-token tiles): the planner takes it for contiguous d 128
// launches of at most one block an SM whose splits hold 2048 tokens or more, and it computes what
// the 4-warp instance does on the same plan (the [decode] test checks both against the CPU).
TEST_CASE("decode v3's wide instance: where it is planned, and its output against the 4-warp instance's",
          "[gpu][decode]") {
  int sm_count = 0;
  cuda_check(cudaDeviceGetAttribute(&sm_count, cudaDevAttrMultiProcessorCount, 0), "SM count");

  // Lengths 4500 and 2300, three new tokens (causal among themselves), GQA 4: at two splits of 2304
  // tokens the second sequence's second split is empty.
  DecodeArgs a;
  a.batch = 2, a.heads = 8, a.kv_heads = 2, a.q_len = 3, a.max_len = 4600, a.head_dim = 128;
  a.longest = 4500, a.total_tokens = 4500 + 2300;
  a.elem = KernelElem::f16;  // HalfDecodeCase runs fp16: the plans checked below are for fp16 too
  a.scale = 1.0f / std::sqrt(128.0f);

  for (const auto& [splits, wide] : std::vector<std::pair<int, bool>>{{1, true}, {2, true}, {4, false}}) {
    INFO(fmt::format("{} splits", splits));
    CHECK(decode_split_plan(a, 3, sm_count, splits).wide == wide);
  }
  DecodeArgs paged = a;
  paged.page_size = 64;
  CHECK_FALSE(decode_split_plan(paged, 3, sm_count, 1).wide);  // 128-token tiles would straddle pages
  DecodeArgs d64 = a;
  d64.head_dim = 64;
  CHECK_FALSE(decode_split_plan(d64, 3, sm_count, 1).wide);
  DecodeArgs many_units = a;  // more blocks than SMs: the 4-warp instance, two of its blocks an SM
  many_units.heads = many_units.kv_heads = sm_count + 1;
  many_units.batch = 1;
  CHECK_FALSE(decode_split_plan(many_units, 3, sm_count, 1).wide);
  CHECK_FALSE(decode_split_plan(a, 2, sm_count, 1).wide);  // version 2 has none

  HalfDecodeCase c(a, {4500, 2300}, 11);
  const std::size_t rows = c.rows;
  for (int splits : {1, 2}) {
    INFO(fmt::format("{} splits", splits));
    DecodeSplitPlan plan = decode_split_plan(c.args, 3, sm_count, splits);
    REQUIRE(plan.wide);
    DeviceBuffer workspace(std::max<std::size_t>(plan.workspace_bytes, 1));
    cuda_check(cudaMemset(workspace.get(), 0xFF, std::max<std::size_t>(plan.workspace_bytes, 1)), "poison workspace");
    auto run = [&](bool wide) {
      plan.wide = wide;
      return c.run(plan, workspace.get());
    };
    const auto [o_narrow, lse_narrow] = run(false);
    const auto [o_wide, lse_wide] = run(true);
    double worst_o = 0, worst_lse = 0;
    bool finite = true;
    for (std::size_t e = 0; e < o_wide.size(); ++e) {
      const double x = __half2float(o_wide[e]);
      finite = finite && std::isfinite(x);
      worst_o = std::max(worst_o, std::fabs(x - double(__half2float(o_narrow[e]))));
    }
    for (std::size_t r = 0; r < rows; ++r) {
      finite = finite && std::isfinite(lse_wide[r]);
      worst_lse = std::max(worst_lse, std::fabs(double(lse_wide[r]) - double(lse_narrow[r])));
    }
    INFO(fmt::format("largest difference from the 4-warp instance: o {:.3g}, lse {:.3g}", worst_o, worst_lse));
    CHECK(finite);  // every element written (the poison is NaN)
    CHECK(worst_o <= 2e-3);
    CHECK(worst_lse <= 1e-4);
  }
}

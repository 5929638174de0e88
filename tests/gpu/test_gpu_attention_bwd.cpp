// The attention backward's GPU variants (bwd.*) and pipelines (fwd_bwd.*) against the CPU
// reference at odd shapes: seq 1, 17, 1000, 4097, seq_q != seq_k both ways, batch and heads > 1,
// GQA, causal and not, every dtype a variant declares, all three gradients (and the pipelines'
// forward) validated; and oom rows that say which phase ran out of memory. Written without a GPU
// at hand: measured: pending.
#include <catch2/catch.hpp>
#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <cmath>
#include <random>
#include <vector>

#include "../helpers.hpp"
#include "config/expand.hpp"
#include "kernels/attention_bwd/attention_forward_fp64.h"
#include "core/variant.hpp"
#include "ops/attention_bwd.hpp"
#include "ops/registry.hpp"
#include "report/rows.hpp"
#include "run/host_tensors.hpp"
#include "run/runner.hpp"

using namespace fabench;

namespace {

Experiment checking_experiment() {
  Experiment e;
  e.name = "gpu-bwd-test";
  e.timing.warmup = 0;
  e.timing.min_samples = 2;
  e.timing.min_time_s = 0;
  e.timing.max_time_s = 5;
  e.validation.max_rows = 512;
  return e;
}

std::vector<Problem> backward_problems(OpKind op) {
  struct Shape {
    std::int64_t b, h, kv, sq, sk, d;
  };
  const Shape shapes[] = {{2, 3, 3, 1, 1, 64},     {2, 4, 2, 17, 17, 64},  {1, 4, 1, 1000, 1000, 64},
                          {2, 2, 2, 17, 1043, 128}, {2, 2, 1, 1000, 17, 64}, {1, 2, 2, 4097, 4097, 64},
                          {1, 6, 2, 300, 257, 128}, {1, 2, 1, 65, 33, 256}};
  std::vector<Problem> out;
  for (DType t : {DType::fp32, DType::tf32, DType::fp16, DType::bf16})
    for (const Shape& s : shapes)
      for (bool causal : {false, true}) {
        Problem p = test::attention(s.b, s.h, s.kv, s.sq, s.sk, s.d, causal, t, 19);
        p.op = op;
        out.push_back(p);
      }
  return out;
}

}  // namespace

TEST_CASE("every attention backward GPU variant matches the CPU reference at odd shapes", "[gpu][bwd]") {
  Registry registry;
  register_all_variants(registry);
  DeviceInfo device = query_device(0);
  REQUIRE(device.caps.available);
  Runner runner(registry, device, std::nullopt);
  const Experiment exp = checking_experiment();
  int variants = 0;
  for (const Variant& v : registry.all()) {
    if (v.backend != Backend::gpu || (v.op != OpKind::attention_bwd && v.op != OpKind::attention_fwd_bwd)) continue;
    ++variants;
    int ran = 0;
    // Every value of a deterministic option (bwd.fa2_mma's) and of bwd.wgmma's block_q and pipeline
    // (a fwd_bwd pipeline's prefixed ones too); values a case does not compile are skipped as unsupported.
    std::vector<Params> settings = {with_defaults(v, {})};
    for (const TunableParam& tp : v.params)
      if (tp.name.find("deterministic") != std::string::npos || tp.name.find("block_q") != std::string::npos ||
          tp.name.find("pipeline") != std::string::npos)
        for (const std::int64_t value : tp.allowed)
          if (value != tp.default_value) settings.push_back(with_defaults(v, {{tp.name, value}}));
    for (const Params& params : settings)
    for (const Problem& p : backward_problems(v.op)) {
      if (unsupported_reason(v, p, params, device.caps)) continue;
      ExpandedCase ec{Case{p, v.name, params, exp.name}, &exp};
      Result r = runner.run(ec);
      INFO(fmt::format("{} {} {}: {} {} rel_l2 {}", v.name, params_label(params), p.key(), to_string(r.status), r.reason,
                       r.rel_l2_err ? *r.rel_l2_err : NAN));
      CHECK(r.status == Status::ok);
      REQUIRE_FALSE(runner.context_lost());
      if (v.op == OpKind::attention_fwd_bwd && r.status == Status::ok) {
        CHECK(r.metrics.at("forward_ms") > 0);
        CHECK(r.metrics.at("backward_ms") > 0);
      }
      ++ran;
    }
    INFO(v.name);
    CHECK(ran > 0);
  }
  CHECK(variants >= 8);  // bwd.naive, bwd.fa2, bwd.fa2_mma, bwd.wgmma and their fwd_bwd pipelines
}

TEST_CASE("fwd_bwd.naive: an oom row says whether the forward or the backward ran out", "[gpu][bwd][oom]") {
  Registry registry;
  register_all_variants(registry);
  DeviceInfo device = query_device(0);
  REQUIRE(device.caps.available);
  Runner runner(registry, device, std::nullopt);
  const Experiment exp = checking_experiment();
  const OpSpec& op = op_spec(OpKind::attention_fwd_bwd);
  // attn.naive's workspace is 4 bytes a score, bwd.naive's 8: at 0.6 of the device's memory in
  // scores x 4 the forward fits and the backward does not; at 1.5 neither does.
  for (const double share : {0.6, 1.5}) {
    const double scores = share * static_cast<double>(device.caps.total_mem) / 4.0;
    const auto seq = static_cast<std::int64_t>(std::sqrt(scores / 8.0));
    Problem p = test::attention(1, 8, 8, seq, seq, 64, false, DType::fp32, 3);
    p.op = OpKind::attention_fwd_bwd;
    const Variant& v = *registry.find("fwd_bwd.naive");
    ExpandedCase ec{Case{p, v.name, with_defaults(v, {}), exp.name}, &exp};
    const Result r = runner.run(ec);
    INFO(fmt::format("seq {}: {} {}", seq, to_string(r.status), r.reason));
    CHECK(r.status == Status::oom);
    CHECK(to_text_row(r, op).at("fwd_bwd_status") == (share < 1 ? "oom(backward)" : "oom(forward)"));
    REQUIRE_FALSE(runner.context_lost());
  }
}

TEST_CASE("the backward's inputs derived on the GPU in double equal the host's forward", "[gpu][bwd]") {
  // derive_inputs takes O and the lse from the device when the runner lends it: the same forward in
  // double as attention_forward_reference, some sums in another order (32-key chunks, warp sums of
  // P), so equal to a few units in the last place, the rows that see no key included (O zeros, lse
  // -inf). Any NaN or unwritten element (the outputs start at 7) counts as a mismatch.
  struct Shape {
    std::int64_t b, h, kv, sq, sk, d;
  };
  const Shape shapes[] = {{2, 6, 2, 77, 150, 64}, {1, 2, 1, 65, 33, 256}, {1, 2, 2, 1, 1, 128},
                          {1, 1, 1, 300, 1043, 128}, {1, 3, 3, 40, 40, 100}};
  int device = 0, optin = 0;
  REQUIRE(cudaGetDevice(&device) == cudaSuccess);
  REQUIRE(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) == cudaSuccess);
  std::mt19937 gen(19);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const Shape& sh : shapes)
    for (bool causal : {false, true}) {
      Problem p = test::attention(sh.b, sh.h, sh.kv, sh.sq, sh.sk, sh.d, causal, DType::fp32, 19);
      p.op = OpKind::attention_bwd;
      p.scale = 0.3;  // not the default 1 / sqrt(d): the scale reaches the kernel
      CAPTURE(sh.b, sh.h, sh.kv, sh.sq, sh.sk, sh.d, causal);
      std::vector<float> q(static_cast<std::size_t>(sh.b * sh.h * sh.sq * sh.d)),
          k(static_cast<std::size_t>(sh.b * sh.kv * sh.sk * sh.d)), v(k.size());
      for (auto* t : {&q, &k, &v})
        for (float& x : *t) x = normal(gen);
      const std::size_t rows = static_cast<std::size_t>(sh.b * sh.h * sh.sq);
      std::vector<double> o_host(q.size()), lse_host(rows), o_dev(q.size(), 7.0), lse_dev(rows, 7.0);
      attention_forward_reference(p, q.data(), k.data(), v.data(), o_host.data(), lse_host.data());
      const bool fits = attention_forward_fp64_smem_bytes(static_cast<int>(sh.d)) <= static_cast<std::size_t>(optin);
      const bool ran = attention_forward_on_device(p, q.data(), k.data(), v.data(), o_dev.data(), lse_dev.data());
      CHECK(ran == fits);  // refused only where this device cannot grant the shared memory
      if (!ran) continue;
      double o_scale = 0.0;
      for (double x : o_host) o_scale = std::max(o_scale, std::fabs(x));
      int o_mismatches = 0;
      for (std::size_t i = 0; i < q.size(); ++i)
        if (!(std::fabs(o_host[i] - o_dev[i]) <= 1e-12 * o_scale)) ++o_mismatches;
      CHECK(o_mismatches == 0);
      int empty_rows = 0, lse_mismatches = 0;
      for (std::size_t r = 0; r < rows; ++r) {
        if (std::isinf(lse_host[r])) {
          ++empty_rows;
          if (!(std::isinf(lse_dev[r]) && lse_dev[r] < 0)) ++lse_mismatches;
        } else if (!(std::fabs(lse_host[r] - lse_dev[r]) <= 1e-12 * std::max(1.0, std::fabs(lse_host[r])))) {
          ++lse_mismatches;
        }
      }
      CHECK(lse_mismatches == 0);
      if (causal && sh.sq > sh.sk) CHECK(empty_rows > 0);  // the case meant to have rows that see nothing
    }
}

TEST_CASE("a backward case's stored O and lse are the same made on the device or on the host", "[gpu][bwd]") {
  // make_host_tensors end to end (the runner's path): wiring (which tensor goes where) and rounding
  // to the storage type. The two forwards differ by about 1e-15, so a stored value may differ by
  // one unit of its type where it lies on a rounding boundary, and no more.
  for (bool causal : {false, true}) {
    Problem p = test::attention(2, 6, 2, 77, 150, 64, causal, DType::bf16, 19);
    p.op = OpKind::attention_bwd;
    CAPTURE(causal);
    const auto host = make_host_tensors(p, false), dev = make_host_tensors(p, true);
    namespace T = attention_bwd_tensors;
    const auto& oh = host[T::o].values;
    const auto& od = dev[T::o].values;
    REQUIRE(oh.size() == od.size());
    int o_far = 0;
    for (std::size_t i = 0; i < oh.size(); ++i)
      if (!(std::fabs(oh[i] - od[i]) <= std::ldexp(std::fabs(oh[i]), -7) + 1e-30)) ++o_far;  // one bf16 unit
    CHECK(o_far == 0);
    const auto& lh = host[T::lse].values;
    const auto& ld = dev[T::lse].values;
    int lse_far = 0;
    for (std::size_t r = 0; r < lh.size(); ++r)
      if (!(lh[r] == ld[r] || std::fabs(lh[r] - ld[r]) <= std::ldexp(std::fabs(lh[r]), -23))) ++lse_far;
    CHECK(lse_far == 0);
  }
}

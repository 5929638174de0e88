// The sparse_attention GPU variants (sparse.masked, sparse.block_skip, sparse.wgmma) against the CPU
// reference: every pattern, blocks of 64 and 128, random masks from nearly empty to full (rows with
// nothing to attend: zeros and lse -inf), shared and per-head masks, at odd shapes (seq not a
// multiple of the block or of any tile, seq_q != seq_k both ways, batch and heads > 1, GQA), every
// dtype and head dim a variant compiles, and every compiled value of each tile parameter. Every
// case a variant declares it can run must come back ok (validated, O and lse, every row).
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "../helpers.hpp"
#include "config/expand.hpp"
#include "core/variant.hpp"
#include "kernels/attention/attention_mask_row.h"
#include "ops/sparse_attention.hpp"
#include "run/runner.hpp"

using namespace fabench;

namespace {

Experiment sparse_experiment() {
  Experiment e;
  e.name = "gpu-sparse-test";
  e.timing.warmup = 0;
  e.timing.min_samples = 2;
  e.timing.max_noise = 1e9;
  e.timing.min_time_s = 0;
  e.timing.max_time_s = 5;
  e.validation.max_rows = 1 << 20;  // every row: a wrong block shows in the rows it covers
  return e;
}

struct Shape {
  std::int64_t b, h, kv, sq, sk, d;
};

// A mask of each pattern (and its parameters) on shape s.
std::vector<Problem> masks_on(const Shape& s, DType t, std::int64_t block) {
  std::vector<Problem> out;
  auto base = [&](SparsePattern pattern) {
    Problem p = test::attention(s.b, s.h, s.kv, s.sq, s.sk, s.d, false, t, 11);
    p.op = OpKind::sparse_attention;
    p.pattern = pattern;
    p.block = block;
    return p;
  };
  for (double density : {0.05, 0.4, 1.0})
    for (bool per_head : {false, true}) {
      Problem p = base(SparsePattern::random);
      p.density = density;
      p.mask_per_head = per_head;
      out.push_back(p);
    }
  {
    Problem p = base(SparsePattern::window);
    p.window = 57;  // partial blocks at both edges of the band
    out.push_back(p);
  }
  out.push_back(base(SparsePattern::causal));  // seq_q > seq_k: the first queries see nothing
  {
    Problem p = base(SparsePattern::causal_window);
    p.window = 70;
    out.push_back(p);
  }
  for (bool per_head : {false, true}) {
    Problem p = base(SparsePattern::documents);
    p.doc_count = 3;
    p.mask_per_head = per_head;
    out.push_back(p);
  }
  {
    Problem p = base(SparsePattern::global_window);
    p.global_tokens = 5;
    p.window = 40;
    out.push_back(p);
  }
  return out;
}

// all: every shape and mask; else (the other tile parameters) two shapes and a few masks, to keep
// the run short.
std::vector<Problem> sparse_problems(const Variant& v, bool all) {
  // d64 and d128 at every dtype; d256 (sparse.block_skip fp32 on CUDA cores) on one shape; d128 with
  // GQA and batch 2 (sparse.wgmma v3's TMA planes of Q and of K and V).
  const Shape shapes[] = {{2, 4, 2, 200, 200, 64},  {1, 3, 3, 130, 333, 128}, {2, 2, 1, 333, 130, 64},
                          {1, 2, 2, 77, 77, 128},    {1, 2, 1, 150, 260, 256}, {2, 4, 2, 300, 270, 128}};
  std::vector<Problem> out;
  for (DType t : v.dtypes)
    for (const Shape& s : shapes) {
      if (!all && &s - shapes >= 2) break;
      for (std::int64_t block : {64, 128}) {
        const std::vector<Problem> masks = masks_on(s, t, block);
        for (std::size_t i = 0; i < masks.size(); ++i)
          if (all || i % 3 == 1) out.push_back(masks[i]);  // random 0.05 per head, 1.0, causal, documents per head
      }
    }
  return out;
}

}  // namespace

TEST_CASE("every sparse_attention GPU variant matches the CPU reference on every pattern", "[gpu][sparse]") {
  Registry registry;
  register_all_variants(registry);
  DeviceInfo device = query_device(0);
  REQUIRE(device.caps.available);
  Runner runner(registry, device, std::nullopt);
  const Experiment exp = sparse_experiment();
  int variants = 0;
  for (const Variant& v : registry.all()) {
    if (v.backend != Backend::gpu || v.op != OpKind::sparse_attention) continue;
    ++variants;
    int ran = 0;
    // The defaults, then every compiled value of each tile parameter, one at a time.
    std::vector<Params> param_sets = {with_defaults(v, {})};
    for (const auto& tp : v.params)
      for (auto value : tp.allowed)
        if (value != tp.default_value) param_sets.push_back(with_defaults(v, {{tp.name, value}}));
    for (std::size_t ps = 0; ps < param_sets.size(); ++ps)
      for (const Problem& p : sparse_problems(v, ps == 0)) {
        const Params& params = param_sets[ps];
        if (unsupported_reason(v, p, params, device.caps)) continue;
        ExpandedCase ec{Case{p, v.name, params, exp.name}, &exp};
        Result r = runner.run(ec);
        INFO(fmt::format("{} {} {}: {} {}", v.name, p.key(), params_label(params), to_string(r.status), r.reason));
        CHECK(r.status == Status::ok);
        REQUIRE_FALSE(runner.context_lost());
        ++ran;
      }
    INFO(v.name);
    CHECK(ran > 0);
  }
  CHECK(variants == 3);
}

// sparse.wgmma v3 (pipeline 3, its default at d 128 for blocks of 128) compiles its loop twice: with
// the consumers' turns for masks of few key blocks a query block, without them for many
// (sparse_ws_turns). The shapes above list at most 4 key blocks a row, so they run only the first;
// 6437 keys (51 blocks of 128) at density 1 run the second, density 0.5 the first on the same shape.
TEST_CASE("sparse.wgmma v3 matches the CPU reference with and without the consumers' turns", "[gpu][sparse]") {
  Registry registry;
  register_all_variants(registry);
  DeviceInfo device = query_device(0);
  REQUIRE(device.caps.available);
  Runner runner(registry, device, std::nullopt);
  const Experiment exp = sparse_experiment();
  const Variant* v = registry.find("sparse.wgmma");
  REQUIRE(v != nullptr);
  const Params params = with_defaults(*v, {});
  int ran = 0;
  for (DType t : {DType::bf16, DType::fp16})
    for (double density : {1.0, 0.5})
      for (bool per_head : {false, true}) {
        Problem p = test::attention(1, 2, 1, 200, 6437, 128, false, t, 17);
        p.op = OpKind::sparse_attention;
        p.pattern = SparsePattern::random;
        p.block = 128;
        p.density = density;
        p.mask_per_head = per_head;
        SparseBlockArgs m;
        m.q_blocks = (p.seq_q + p.block - 1) / p.block;
        m.entries = static_cast<std::int64_t>(sparse_summary_of(p).cols);
        const bool turns = sparse_ws_turns(m, per_head ? p.batch * p.heads : 1);
        INFO(fmt::format("{} density {} per_head {}: {} entries, turns {}", to_string(t), density, per_head, m.entries,
                         turns));
        CHECK(turns == (density < 1.0));
        if (unsupported_reason(*v, p, params, device.caps)) continue;
        ExpandedCase ec{Case{p, v->name, params, exp.name}, &exp};
        Result r = runner.run(ec);
        INFO(fmt::format("{} {}: {} {}", p.key(), params_label(params), to_string(r.status), r.reason));
        CHECK(r.status == Status::ok);
        REQUIRE_FALSE(runner.context_lost());
        ++ran;
      }
  if (device.caps.cc_major == 9) CHECK(ran == 8);  // Hopper: every case runs (elsewhere none, as v3 needs sm_90a)
}

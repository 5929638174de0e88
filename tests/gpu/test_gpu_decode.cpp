// The decode and kv_append variants against the CPU reference: cache lengths 1, 17, 1000, 4097
// and mixed per sequence, GQA groups 1, 4 and 8 (8 query heads over 8, 2, 1 KV heads), head dims
// 64/128/256, q_len 1 and 5, every dtype a variant has, contiguous and paged caches (every compiled
// page size), and split-KV versions 2 and 3 with chosen and fixed splits (more splits than tiles
// included). Every case a variant declares it can run must come back ok (validated).
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <map>

#include "config/expand.hpp"
#include "core/variant.hpp"
#include "kernels/decode/decode.h"
#include "run/runner.hpp"

using namespace fabench;

namespace {

// max_rows: every query row of the short caches; a sample covering every batch and head (first and
// last row of each) of the 4097-token ones, whose double-precision reference dominated the run
// (killed after 80 s on an H200 at 521bbdb with every row checked).
Experiment quick_experiment(int max_rows) {
  Experiment e;
  e.name = "gpu-decode-test";
  e.timing.warmup = 0;
  e.timing.min_samples = 2;  // the fewest the noise rule counts; any noise is accepted
  e.timing.max_noise = 1e9;
  e.timing.min_time_s = 0;
  e.timing.max_time_s = 5;
  e.validation.max_rows = max_rows;
  return e;
}

struct CacheCase {
  std::int64_t cache_len;
  SeqLengths lengths;
  std::int64_t batch;
};

Problem problem(OpKind op, DType t, const CacheCase& c, std::int64_t kv_heads, std::int64_t q_len, std::int64_t d,
                std::int64_t page_size) {
  Problem p;
  p.op = op;
  p.dtype = t;
  p.batch = c.batch;
  p.heads = op == OpKind::decode ? 8 : kv_heads;
  p.kv_heads = kv_heads;
  p.seq_q = q_len;
  p.seq_k = c.cache_len;
  p.max_len = c.cache_len + 3;  // capacity beyond the longest sequence: its slots must not be read
  p.lengths = c.lengths;
  p.page_size = page_size;
  p.head_dim = d;
  p.seed = 17;
  return p;
}

// Every kernel configuration (dtype x d x GQA group x q_len) at short and medium caches on every
// layout; the long (4097) and mixed-length caches on fewer combinations, to keep the run short.
std::vector<Problem> decode_problems(OpKind op) {
  std::vector<Problem> out;
  std::vector<std::int64_t> layouts = {0};
  for (int s : decode_page_sizes()) layouts.push_back(s);
  const std::vector<DType> dtypes = {DType::bf16, DType::fp16, DType::fp32};
  for (DType t : dtypes)
    for (std::int64_t d : {64, 128, 256})
      for (std::int64_t kv : {8, 2, 1})
        for (std::int64_t q_len : {1, 5})
          for (const CacheCase& c : {CacheCase{1, SeqLengths::equal, 2}, CacheCase{17, SeqLengths::equal, 2},
                                     CacheCase{1000, SeqLengths::equal, 2}})
            for (std::int64_t page : layouts)
              if (q_len <= c.cache_len) out.push_back(problem(op, t, c, kv, q_len, d, page));
  for (DType t : dtypes)
    for (std::int64_t d : {64, 128, 256})
      for (std::int64_t kv : {8, 1})
        for (std::int64_t q_len : {1, 5})
          for (const CacheCase& c : {CacheCase{4097, SeqLengths::equal, 2}, CacheCase{4097, SeqLengths::mixed, 3},
                                     CacheCase{1000, SeqLengths::mixed, 3}})
            for (std::int64_t page : {std::int64_t{0}, std::int64_t{d == 128 ? 16 : d == 64 ? 64 : 256}})
              out.push_back(problem(op, t, c, kv, q_len, d, page));
  return out;
}

// The variant's defaults, then split-KV versions 2 and 3 with the planner's splits and fixed ones.
std::vector<Params> param_sets(const Variant& v) {
  if (v.params.empty()) return {with_defaults(v, {})};
  std::vector<Params> sets;
  for (std::int64_t version : {2, 3})
    for (std::int64_t splits : {0, 1, 4, 64}) sets.push_back(with_defaults(v, {{"version", version}, {"splits", splits}}));
  return sets;
}

}  // namespace

TEST_CASE("every decode and kv_append variant matches the CPU reference", "[gpu][decode]") {
  Registry registry;
  register_all_variants(registry);
  DeviceInfo device = query_device(0);
  REQUIRE(device.caps.available);
  Runner runner(registry, device, std::nullopt);
  const Experiment every_row = quick_experiment(1 << 20), sampled = quick_experiment(64);
  std::map<std::string, int> ran;  // variant (and version) -> cases validated
  for (OpKind op : {OpKind::decode, OpKind::kv_append}) {
    const std::vector<const Variant*> variants = registry.for_op(op);
    REQUIRE_FALSE(variants.empty());
    for (const Problem& p : decode_problems(op))
      for (const Variant* v : variants)
        for (const Params& params : param_sets(*v)) {
          const auto why = unsupported_reason(*v, p, params, device.caps);
          // Layouts go to their variant; fp32 has no tensor-core version; nothing else is refused.
          const bool layout_refused = (v->name == "decode.split_kv" && p.page_size > 0) ||
                                      (v->name == "decode.paged" && p.page_size == 0);
          const bool fp32_v3 = p.dtype == DType::fp32 && params.count("version") && params.at("version") == 3;
          INFO(fmt::format("{} {} {}: {}", v->name, p.key(), params_label(params), why.value_or("supported")));
          CHECK(why.has_value() == (layout_refused || fp32_v3));
          if (why) continue;
          const Experiment& exp = p.seq_k > 1000 ? sampled : every_row;
          ExpandedCase ec{Case{p, v->name, params, exp.name}, &exp};
          Result r = runner.run(ec);
          INFO(fmt::format("{}: {}", to_string(r.status), r.reason));
          CHECK(r.status == Status::ok);
          REQUIRE_FALSE(runner.context_lost());
          const auto version = params.find("version");
          ++ran[v->name + (version == params.end() ? "" : fmt::format(" v{}", version->second))];
        }
  }
  for (const char* name : {"decode.simple", "decode.split_kv v2", "decode.split_kv v3", "decode.paged v2",
                           "decode.paged v3", "kv_append.simple"}) {
    INFO(name);
    CHECK(ran[name] > 0);
  }
}

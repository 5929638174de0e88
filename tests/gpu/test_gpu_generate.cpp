// The generate op end to end on the GPU at a small size: P 33 (not a multiple of any tile), T 5,
// batch 2, 4 query heads over 2 KV heads, d 64 and 128, contiguous and paged (16) caches, with
// and without the CUDA graph, both split-KV decode versions; every case validated and timed.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "config/expand.hpp"
#include "core/variant.hpp"
#include "run/runner.hpp"

using namespace fabench;

TEST_CASE("generate.loop: prefill + decode steps validate, with and without a CUDA graph", "[gpu][generate]") {
  Registry registry;
  register_all_variants(registry);
  const Variant* v = registry.find("generate.loop");
  REQUIRE(v != nullptr);
  DeviceInfo device = query_device(0);
  REQUIRE(device.caps.available);
  Runner runner(registry, device, std::nullopt);
  Experiment e;
  e.name = "gpu-generate";
  e.timing.warmup = 1;
  e.timing.min_samples = 2;
  e.timing.min_time_s = 0;
  e.timing.max_noise = 1;
  e.timing.max_time_s = 5;
  e.validation.max_rows = 1024;
  int ran = 0;
  for (DType t : {DType::bf16, DType::fp16})
    for (std::int64_t d : {64, 128})
      for (std::int64_t page : {0, 16})
        for (std::int64_t graph : {0, 1})
          for (std::int64_t version : {3, 2})
            for (std::int64_t prompt : {33, 1000}) {
            // fp16: one of each; a prompt of 1000 (a decode plan of several splits, some empty at
            // the first steps, and the last-block merge) once per layout, graph and version in bf16 d128.
            if (t == DType::fp16 && (page != 0 || version != 3 || prompt != 33)) continue;
            if (prompt == 1000 && d != 128) continue;
            Problem p;
            p.op = OpKind::generate;
            p.dtype = t;
            p.batch = 2;
            p.heads = 4;
            p.kv_heads = 2;
            p.head_dim = d;
            p.d_model = 96;  // not heads * d: the projections are rectangular
            p.prompt_len = prompt;
            p.steps = 5;
            p.page_size = page;
            p.causal = true;
            p.seed = 11;
            const Params params = with_defaults(*v, {{"graph", graph}, {"decode_version", version}});
            const auto why = unsupported_reason(*v, p, params, device.caps);
            INFO(fmt::format("{} {}: {}", p.key(), params_label(params), why ? *why : std::string("supported")));
            REQUIRE_FALSE(why);
            const Result r = runner.run(ExpandedCase{Case{p, v->name, params, e.name}, &e});
            INFO(fmt::format("{}: {} {}", r.c.key(), to_string(r.status), r.reason));
            CHECK(r.status == Status::ok);
            REQUIRE_FALSE(runner.context_lost());
            REQUIRE(r.timing);
            CHECK(r.timing->samples >= 2);
            CHECK(r.metrics.count("ttft_ms"));
            CHECK(r.metrics.at("tbt_ms_p50") > 0);
            CHECK(r.metrics.at("tbt_ms_p99") >= r.metrics.at("tbt_ms_p50"));
            CHECK(r.metrics.at("ttft_ms") < r.timing->median_ms);
            ++ran;
          }
  CHECK(ran == 2 * 2 * 2 * 2 + 2 * 2 + 2 * 2 * 2);
}

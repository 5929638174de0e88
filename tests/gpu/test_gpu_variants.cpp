// Every registered GPU variant against the CPU reference at small odd shapes: seq not a multiple
// of any tile, batch and heads > 1, GQA, seq_q != seq_k, every dtype, mask kind and dropout.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "../helpers.hpp"
#include "config/expand.hpp"
#include "core/variant.hpp"
#include "run/runner.hpp"

using namespace fabench;

namespace {

Experiment checking_experiment() {
  Experiment e;
  e.name = "gpu-test";
  e.timing.warmup = 0;
  e.timing.min_samples = 2;
  e.timing.min_time_s = 0;
  e.timing.max_time_s = 5;
  e.validation.max_rows = 1024;
  return e;
}

std::vector<Problem> softmax_problems() {
  std::vector<Problem> out;
  for (DType t : {DType::fp32, DType::fp16, DType::bf16})
    for (std::int64_t cols : {1, 7, 1000, 1004, 4097})  // 1004: fp32 rows alternate Philox-group alignment
      for (std::int64_t rows : {1, 37, 300})
        for (MaskKind m : {MaskKind::none, MaskKind::causal, MaskKind::tensor, MaskKind::lengths})
          for (double p : {0.0, 0.1}) {
            Problem pr;
            pr.op = OpKind::softmax;
            pr.dtype = t;
            pr.rows = rows;
            pr.cols = cols;
            pr.mask = m;
            pr.dropout = p;
            if (m != MaskKind::none || p > 0) pr.scale = 0.7;  // plain cases stay in cuDNN's reach
            pr.seed = 99;
            out.push_back(pr);
          }
  // Long rows: the fused kernel's cluster path (a row shared by 2..8 blocks) and the fallbacks.
  for (DType t : {DType::fp32, DType::bf16})
    for (std::int64_t cols : {32768, 131072, 131080})
      for (MaskKind m : {MaskKind::none, MaskKind::lengths, MaskKind::tensor}) {
        Problem pr;
        pr.op = OpKind::softmax;
        pr.dtype = t;
        pr.rows = 5;
        pr.cols = cols;
        pr.mask = m;
        pr.dropout = m == MaskKind::tensor ? 0.1 : 0.0;
        pr.seed = 98;
        out.push_back(pr);
      }
  // More rows than the streamed path has clusters (16 of 8 blocks on 132 SMs), so each cluster
  // loops over several rows through both halves of its double buffer; 65540 columns start every
  // other row in the middle of a Philox group (dropout bits drawn per vector, not per lane pair)
  // and give mask rows that are not 16-byte aligned (mask bytes by cp.async, not bulk copies).
  for (std::int64_t cols : {131072, 65540})
    for (MaskKind m : {MaskKind::causal, MaskKind::tensor}) {
      Problem pr;
      pr.op = OpKind::softmax;
      pr.dtype = DType::fp32;
      pr.rows = 40;
      pr.cols = cols;
      pr.mask = m;
      pr.dropout = 0.1;
      pr.scale = 0.7;
      pr.seed = 97;
      out.push_back(pr);
    }
  return out;
}

std::vector<Problem> softmax_matmul_problems() {
  std::vector<Problem> out;
  for (DType t : {DType::fp32, DType::fp16, DType::bf16})
    for (std::int64_t d1 : {1, 37, 130})
      for (std::int64_t d2 : {1, 7, 100, 1000})
        for (std::int64_t d3 : {1, 65, 200}) {
          Problem p;
          p.op = OpKind::softmax_matmul;
          p.dtype = t;
          p.batch = 2;
          p.rows = d1;
          p.cols = d2;
          p.d3 = d3;
          p.seed = 5;
          out.push_back(p);
        }
  return out;
}

std::vector<Problem> attention_problems() {
  struct Shape {
    std::int64_t b, h, kv, sq, sk, d;
  };
  const Shape shapes[] = {{2, 3, 3, 1, 1, 64},     {2, 4, 2, 17, 17, 64},   {1, 4, 1, 1000, 1000, 32},
                          {2, 2, 2, 17, 1043, 128}, {2, 2, 1, 1000, 17, 64}, {1, 2, 2, 4097, 4097, 64},
                          {3, 6, 2, 100, 77, 96},   {1, 2, 1, 33, 65, 256},  {1, 2, 2, 300, 300, 128},
                          // More query tiles than an H100 holds blocks: persistent blocks loop over items,
                          // the causal tail interleaves only the last slices, and attn.fa2_mma splits the
                          // keys of the items past the last full wave (stream-K; d128: 640 items of 128
                          // rows on 264 resident blocks, 384 of 256 rows on 132; d256: 320 items of 128
                          // rows on 132, seq_k != seq_q); with one key tile (seq_k 33) nothing is split.
                          {4, 32, 8, 520, 520, 128}, {2, 32, 4, 600, 700, 256}, {4, 32, 8, 520, 33, 128}};
  std::vector<Problem> out;
  for (DType t : {DType::fp32, DType::tf32, DType::fp16, DType::bf16})
    for (const Shape& s : shapes)
      for (bool causal : {false, true}) {
        Problem p = test::attention(s.b, s.h, s.kv, s.sq, s.sk, s.d, causal, t, 7);
        out.push_back(p);
      }
  return out;
}

}  // namespace

TEST_CASE("every GPU variant matches the CPU reference at odd shapes", "[gpu]") {
  Registry registry;
  register_all_variants(registry);
  DeviceInfo device = query_device(0);
  REQUIRE(device.caps.available);
  Runner runner(registry, device, std::nullopt);
  const Experiment exp = checking_experiment();
  int gpu_variants = 0;
  for (const Variant& v : registry.all()) {
    if (v.backend != Backend::gpu) continue;
    if (v.op == OpKind::decode || v.op == OpKind::kv_append) continue;  // their own shapes: test_gpu_decode.cpp
    if (v.op == OpKind::generate) continue;  // a whole loop: tests/gpu/test_gpu_generate.cpp
    if (v.op == OpKind::attention_bwd || v.op == OpKind::attention_fwd_bwd) continue;  // test_gpu_attention_bwd.cpp
    if (v.op == OpKind::sparse_attention) continue;  // masks and patterns: tests/gpu/test_gpu_sparse.cpp
    ++gpu_variants;
    int ran = 0;
    // Every compiled value of every parameter, one parameter moved at a time from the defaults.
    std::vector<Params> param_sets = {with_defaults(v, {})};
    for (const auto& tp : v.params)
      for (auto value : tp.allowed)
        if (value != tp.default_value) param_sets.push_back(with_defaults(v, {{tp.name, value}}));
    const std::vector<Problem> problems = v.op == OpKind::softmax          ? softmax_problems()
                                          : v.op == OpKind::softmax_matmul ? softmax_matmul_problems()
                                                                           : attention_problems();
    for (const Problem& p : problems)
      for (const Params& params : param_sets) {
        // What a variant declares it cannot run is skipped; everything else must validate.
        if (unsupported_reason(v, p, params, device.caps)) continue;
        ExpandedCase ec{Case{p, v.name, params, exp.name}, &exp};
        Result r = runner.run(ec);
        INFO(fmt::format("{} {} {}: {} {}", v.name, p.key(), params_label(params), to_string(r.status), r.reason));
        // A library peer may refuse a case at run time (cuDNN's NOT_SUPPORTED); our kernels may not.
        if (r.status == Status::unsupported && v.name.find(".cudnn") != std::string::npos) continue;
        CHECK(r.status == Status::ok);
        REQUIRE_FALSE(runner.context_lost());
        ++ran;
      }
    INFO(v.name);
    CHECK(ran > 0);
  }
  CHECK(gpu_variants > 0);
}

// `fa-bench plan` (the cases other tools read) and the constraints the tensor-core and cuBLAS
// attention variants declare, checked without a GPU through a device description.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "app/plan_output.hpp"
#include "app/sweep.hpp"
#include "helpers.hpp"
#include "kernels/attention/attention.h"
#include "kernels/softmax/softmax.h"
#include "report/rows.hpp"
#include "variants/attention_tiles.hpp"

using namespace fabench;

namespace {

DeviceCaps hopper() {
  DeviceCaps c;
  c.available = true;
  c.name = "test H100";
  c.cc_major = 9;
  c.smem_per_block_optin = 227 * 1024;
  c.sm_count = 132;
  return c;
}

const Variant& variant(const std::string& name) {
  const Variant* v = test::registry().find(name);
  REQUIRE(v != nullptr);
  return *v;
}

}  // namespace

TEST_CASE("plan JSON lists the sweep's cases with their keys, rows, model and settings", "[plan]") {
  // Under the system's temporary folder, so that a run from any working directory leaves no trace.
  const std::string dir = (std::filesystem::temp_directory_path() / "fabench_test_plan_json").string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string config = dir + "/sweep.json";
  std::ofstream(config) << R"({"name": "p", "seed": 5, "validation": {"max_rows": 17},
    "experiments": [
      {"op": "attention", "variants": ["attn.fa2_mma", "attn.cublas"], "dtype": ["bf16", "tf32"], "batch": 2,
       "heads": 4, "kv_heads": 2, "seq_len": [100, 300], "head_dim": 64, "causal": [false, true]},
      {"op": "softmax", "variants": ["softmax.fused"], "rows": 3, "cols": 7, "timing": {"warmup": 9}}
    ]})";
  const auto doc = nlohmann::json::parse(plan_json(config, "", test::registry()));
  const LoadedCases loaded = load_cases(config, "", test::registry());
  REQUIRE(doc.at("cases").size() == loaded.cases.size());
  CHECK(doc.at("plan") == "p");
  CHECK(doc.at("columns").get<std::vector<std::string>>() == result_columns());
  const std::set<std::string> columns(result_columns().begin(), result_columns().end());
  for (std::size_t i = 0; i < loaded.cases.size(); ++i) {
    const auto& c = doc.at("cases")[i];
    const ExpandedCase& ec = loaded.cases[i];
    INFO(ec.c.key());
    CHECK(c.at("key") == ec.c.key());
    CHECK(c.at("problem_key") == ec.c.problem.key());
    CHECK(c.at("row").at("key") == ec.c.key());
    for (const auto& [col, value] : c.at("row").items()) CHECK(columns.count(col) == 1);
    CHECK(c.at("flops").get<double>() > 0);
    CHECK(c.at("bytes").get<double>() > 0);
    CHECK(c.at("seed") == ec.c.problem.seed);
    CHECK(c.at("validation").at("tolerance") == ec.experiment->validation.tolerance.at(ec.c.problem.dtype));
    if (ec.c.problem.op == OpKind::attention) {
      CHECK(c.at("row").at("kv_heads") == 2);
      CHECK(c.at("row").at("scale").get<double>() == Approx(0.125));
      CHECK(c.at("validation").at("max_rows") == 17);
    } else {
      CHECK(c.at("timing").at("warmup") == 9);
    }
  }
  CHECK_THROWS_AS(plan_json(dir + "/missing.json", "", test::registry()), ConfigError);
  std::filesystem::remove_all(dir);
}

TEST_CASE("plan JSON keeps flush_l2 and names the L2 mode only when it is dirty", "[plan]") {
  const std::string dir = (std::filesystem::temp_directory_path() / "fabench_test_plan_l2").string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string config = dir + "/sweep.json";
  std::ofstream(config) << R"({"experiments": [
      {"op": "softmax", "variants": ["softmax.fused"], "rows": 1, "cols": 7},
      {"op": "softmax", "variants": ["softmax.fused"], "rows": 2, "cols": 7, "timing": {"l2": "dirty"}},
      {"op": "softmax", "variants": ["softmax.fused"], "rows": 3, "cols": 7, "timing": {"l2": "hot"}}
    ]})";
  const auto cases = nlohmann::json::parse(plan_json(config, "", test::registry())).at("cases");
  REQUIRE(cases.size() == 3);
  const nlohmann::json cold = cases[0].at("timing"), dirty = cases[1].at("timing"), hot = cases[2].at("timing");
  CHECK(cold.at("flush_l2") == true);
  CHECK_FALSE(cold.contains("l2"));
  CHECK(dirty.at("flush_l2") == true);
  CHECK(dirty.at("l2") == "dirty");
  CHECK(hot.at("flush_l2") == false);
  CHECK_FALSE(hot.contains("l2"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("plan JSON names timing.max_clock_drop only when it is not the default", "[plan]") {
  const std::string dir = (std::filesystem::temp_directory_path() / "fabench_test_plan_clock").string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string config = dir + "/sweep.json";
  std::ofstream(config) << R"({"experiments": [
      {"op": "softmax", "variants": ["softmax.fused"], "rows": 1, "cols": 7},
      {"op": "softmax", "variants": ["softmax.fused"], "rows": 2, "cols": 7, "timing": {"max_clock_drop": 1}}
    ]})";
  const auto cases = nlohmann::json::parse(plan_json(config, "", test::registry())).at("cases");
  REQUIRE(cases.size() == 2);
  CHECK_FALSE(cases[0].at("timing").contains("max_clock_drop"));
  CHECK(cases[1].at("timing").at("max_clock_drop") == 1.0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("attn.fa2_mma runs the compiled tiles of fp16, bf16, tf32 and fp32 and says why it skips", "[variants]") {
  const Variant& v = variant("attn.fa2_mma");
  const DeviceCaps caps = hopper();
  // Chosen tiles: 128 rows, but for d128 in 16-bit types 256 non-causal from seq_q 2048; asked-for
  // values always win.
  for (DType t : {DType::fp16, DType::bf16}) {
    CHECK(attention_fa2_mma_tile(test::attention(1, 2, 2, 64, 64, 128, true, t), with_defaults(v, {}))->block_m == 128);
    CHECK(attention_fa2_mma_tile(test::attention(1, 2, 2, 64, 64, 128, false, t), with_defaults(v, {}))->block_m ==
          128);
    const auto long_rows = attention_fa2_mma_tile(test::attention(1, 2, 2, 2048, 2048, 128, false, t), with_defaults(v, {}));
    CHECK(long_rows->block_m == 256);
    CHECK(long_rows->warps == 8);
    const auto causal = attention_fa2_mma_tile(test::attention(1, 2, 2, 2048, 2048, 128, true, t), with_defaults(v, {}));
    CHECK(causal->block_m == 128);
    CHECK(causal->warps == 4);
    CHECK(attention_fa2_mma_tile(test::attention(1, 2, 2, 2048, 2048, 64, false, t), with_defaults(v, {}))->block_m ==
          128);
    CHECK(attention_fa2_mma_tile(test::attention(1, 2, 2, 64, 64, 64, true, t), with_defaults(v, {}))->block_m == 128);
    CHECK(attention_fa2_mma_tile(test::attention(1, 2, 2, 64, 64, 128, true, t),
                                 with_defaults(v, {{"block_m", 128}}))
              ->block_m == 128);
  }
  // tf32 has one d128 tile, causal or not.
  CHECK(attention_fa2_mma_tile(test::attention(1, 2, 2, 64, 64, 128, true, DType::tf32), with_defaults(v, {}))
            ->block_n ==
        attention_fa2_mma_tile(test::attention(1, 2, 2, 64, 64, 128, false, DType::tf32), with_defaults(v, {}))
            ->block_n);
  for (DType t : {DType::fp16, DType::bf16})
    for (std::int64_t d : {64, 128, 256})
      CHECK_FALSE(unsupported_reason(v, test::attention(2, 4, 2, 1000, 17, d, true, t), with_defaults(v, {}), caps));
  CHECK_FALSE(unsupported_reason(v, test::attention(1, 2, 2, 64, 64, 128, false, DType::tf32), with_defaults(v, {}), caps));
  // fp32 (3xTF32) has its own tiles: a tf32 tile is not taken for it, nor the reverse.
  CHECK_FALSE(unsupported_reason(v, test::attention(1, 2, 2, 64, 64, 64), with_defaults(v, {}), caps));
  CHECK_FALSE(unsupported_reason(v, test::attention(1, 2, 2, 64, 64, 128), with_defaults(v, {}), caps));
  const Params fp32_tile = with_defaults(v, {{"block_m", 64}, {"block_n", 32}});
  CHECK_FALSE(unsupported_reason(v, test::attention(1, 2, 2, 64, 64, 128), fp32_tile, caps));
  auto fp32_64 = unsupported_reason(v, test::attention(1, 2, 2, 64, 64, 64), fp32_tile, caps);
  REQUIRE(fp32_64);
  CHECK(fp32_64->find("not compiled for fp32 head_dim 64") != std::string::npos);
  CHECK(fp32_64->find("(fp32, 64, 64, 64, 4, 1,") != std::string::npos);
  // tf32 and fp32 stop at d128; head dims outside the list are refused by name.
  auto fp32_256 = unsupported_reason(v, test::attention(1, 2, 2, 64, 64, 256), with_defaults(v, {}), caps);
  REQUIRE(fp32_256);
  CHECK(fp32_256->find("not compiled for fp32 head_dim 256") != std::string::npos);
  auto tf32_256 = unsupported_reason(v, test::attention(1, 2, 2, 64, 64, 256, false, DType::tf32), with_defaults(v, {}), caps);
  REQUIRE(tf32_256);
  CHECK(tf32_256->find("not compiled for tf32 head_dim 256") != std::string::npos);
  CHECK(unsupported_reason(v, test::attention(1, 2, 2, 64, 64, 96, false, DType::bf16), with_defaults(v, {}), caps));
  // A tile that is not compiled names the compiled ones.
  auto odd = unsupported_reason(v, test::attention(1, 2, 2, 64, 64, 64, false, DType::bf16),
                                with_defaults(v, {{"block_m", 64}, {"stages", 2}}), caps);
  REQUIRE(odd);
  CHECK(odd->find("compiled (elem, head_dim") != std::string::npos);
  // Shared memory beyond the device's opt-in limit, and pre-Ampere devices, are refused.
  DeviceCaps small = caps;
  small.smem_per_block_optin = 48 * 1024;
  auto smem = unsupported_reason(v, test::attention(1, 8, 8, 64, 64, 256, false, DType::bf16), with_defaults(v, {}), small);
  REQUIRE(smem);
  CHECK(smem->find("shared memory") != std::string::npos);
  DeviceCaps turing = caps;
  turing.cc_major = 7;
  CHECK(unsupported_reason(v, test::attention(1, 2, 2, 64, 64, 64, false, DType::bf16), with_defaults(v, {}), turing));
  // Persistent blocks that split the last items' keys need a workspace, sized on the device (its
  // resident blocks); the GPU tests run that path.
  CHECK(v.workspace_bytes);
}

TEST_CASE("attn.fa2 picks its compiled tile per head dim and says why it skips", "[variants]") {
  const Variant& v = variant("attn.fa2");
  const DeviceCaps caps = hopper();
  auto refusal = [&](std::int64_t d, const Params& asked) {
    return unsupported_reason(v, test::attention(2, 4, 2, 1000, 1000, d, true, DType::fp32), with_defaults(v, asked),
                              caps);
  };
  // Defaults and every compiled (block_m, warps) a head dim has run; the rest are refused by name.
  for (std::int64_t d : {32, 64, 128, 256}) CHECK_FALSE(refusal(d, {}));
  CHECK_FALSE(refusal(128, {{"block_m", 128}}));
  CHECK_FALSE(refusal(128, {{"block_m", 64}}));
  CHECK_FALSE(refusal(64, {{"warps", 8}}));
  const auto refused = refusal(64, {{"block_m", 128}});
  REQUIRE(refused);
  CHECK(refused->find("block_m=128") != std::string::npos);
  CHECK(refused->find("head_dim 64") != std::string::npos);
  CHECK(refusal(256, {{"warps", 4}}));
  // d256's tile holds P^T apart from K^T: more shared memory than a 200 KiB opt-in grants.
  DeviceCaps small = caps;
  small.smem_per_block_optin = 200 * 1024;
  const auto too_big =
      unsupported_reason(v, test::attention(1, 2, 2, 300, 300, 256, false, DType::fp32), with_defaults(v, {}), small);
  REQUIRE(too_big);
  CHECK(too_big->find("shared memory") != std::string::npos);
  // The grid is query tiles x heads x batch: batch x heads may pass 65535, neither alone.
  CHECK_FALSE(unsupported_reason(v, test::attention(300, 256, 256, 64, 64, 64, false, DType::fp32),
                                 with_defaults(v, {}), caps));
  CHECK(unsupported_reason(v, test::attention(70000, 1, 1, 64, 64, 64, false, DType::fp32), with_defaults(v, {}),
                           caps));
  CHECK_FALSE(v.workspace_bytes);
}

TEST_CASE("attn.cublas takes every dtype and a seq_q x seq_k workspace of the dtype", "[variants]") {
  const Variant& v = variant("attn.cublas");
  const DeviceCaps caps = hopper();
  for (DType t : {DType::fp32, DType::tf32, DType::fp16, DType::bf16}) {
    const Problem p = test::attention(2, 6, 2, 100, 77, 96, true, t);
    CHECK_FALSE(unsupported_reason(v, p, with_defaults(v, {}), caps));
    const std::size_t es = t == DType::fp16 || t == DType::bf16 ? 2 : 4;
    CHECK(v.workspace_bytes(p, with_defaults(v, {})) == std::size_t{2 * 6 * 100 * 77} * es);
  }
}

TEST_CASE("attn.wgmma takes fp16/bf16 on compute capability 9.0 and says why it skips", "[variants]") {
  const Variant& v = variant("attn.wgmma");
  const DeviceCaps caps = hopper();
  const Problem bf16_d64 = test::attention(2, 4, 2, 1000, 17, 64, false, DType::bf16);
  if (!attention_wgmma_compiled()) {  // a build without sm_90a says so instead of launching empty kernels
    auto r = unsupported_reason(v, bf16_d64, with_defaults(v, {}), caps);
    REQUIRE(r);
    CHECK(r->find("sm_90a") != std::string::npos);
    return;
  }
  for (DType t : {DType::fp16, DType::bf16})
    for (std::int64_t d : {64, 128, 256})
      for (bool causal : {false, true})
        CHECK_FALSE(unsupported_reason(v, test::attention(2, 4, 2, 1000, 17, d, causal, t), with_defaults(v, {}), caps));
  CHECK(unsupported_reason(v, test::attention(1, 2, 2, 64, 64, 96, false, DType::bf16), with_defaults(v, {}), caps));
  CHECK_FALSE(std::count(v.dtypes.begin(), v.dtypes.end(), DType::fp32));
  DeviceCaps ampere = caps;
  ampere.cc_major = 8;
  auto old = unsupported_reason(v, bf16_d64, with_defaults(v, {}), ampere);
  REQUIRE(old);
  CHECK(old->find("compute capability 9.0") != std::string::npos);
  // d64: 2 warpgroups x 64 keys (49 KiB) by default; 3 x 128 (89 KiB) when asked, which a device
  // granting 64 KiB refuses by its shared memory.
  DeviceCaps tight = caps;
  tight.smem_per_block_optin = 64 * 1024;
  CHECK_FALSE(unsupported_reason(v, bf16_d64, with_defaults(v, {}), tight));
  auto wide = unsupported_reason(v, bf16_d64, with_defaults(v, {{"block_m", 192}}), tight);
  REQUIRE(wide);
  CHECK(wide->find("shared memory") != std::string::npos);
  // A tile that is not compiled names the compiled ones, pipeline included.
  auto odd = unsupported_reason(v, bf16_d64, with_defaults(v, {{"pipeline", 2}}), caps);
  REQUIRE(odd);
  CHECK(odd->find("pipeline, shared KiB") != std::string::npos);
  CHECK_FALSE(v.workspace_bytes);
}

namespace {

// The shape of a softmax.fused plan: threads per row, blocks per row, vectors per thread, and the
// streamed path's clusters (0: the row in registers).
void check_plan(const SoftmaxFusedPlan& plan, int threads, int cluster, int items, int stream_clusters) {
  CHECK(plan.on_chip);
  CHECK(plan.threads_per_row == threads);
  CHECK(plan.cluster_blocks == cluster);
  CHECK(plan.items == items);
  CHECK(plan.stream_clusters == stream_clusters);
}

}  // namespace

TEST_CASE("softmax.fused streams long rows with a mask or dropout through persistent clusters", "[variants]") {
  auto plan = [](std::int64_t rows, std::int64_t cols, KernelElem e, bool plain, int tpr = 0, int cluster = 0) {
    return softmax_fused_plan(rows, cols, e, plain, tpr, cluster, 132);
  };
  // 4096 x 32768 fp32: plain in one 1024-thread block, holding the row in registers.
  check_plan(plan(4096, 32768, KernelElem::f32, true), 1024, 1, 8, 0);
  // Masked: streamed by clusters of 2 blocks of 1024 threads x 4 vectors, one block per SM.
  check_plan(plan(4096, 32768, KernelElem::f32, false), 1024, 2, 4, 66);
  // 131072 fp32 columns: streamed, 8 blocks of 1024 threads a row; never more clusters than rows.
  check_plan(plan(1024, 131072, KernelElem::f32, false), 1024, 8, 4, 16);
  check_plan(plan(5, 131072, KernelElem::f32, false), 1024, 8, 4, 5);
  // bf16 keeps registers: 8 blocks of 512 threads x 4 vectors.
  check_plan(plan(1024, 131072, KernelElem::bf16, false), 512, 8, 4, 0);
  // Asked-for threads or clusters keep the register path, so it stays measurable.
  check_plan(plan(4096, 32768, KernelElem::f32, false, 512, 4), 512, 4, 4, 0);
  // Longer than 8 streamed slices, and than 8 x 1024 threads hold in registers: v4's kernel.
  CHECK_FALSE(plan(5, 131080, KernelElem::f32, false).on_chip);
}

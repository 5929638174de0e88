// Config parsing: every error names its JSON path and what was expected.
#include <catch2/catch.hpp>

#include <filesystem>

#include "config/plan.hpp"
#include "core/variant.hpp"
#include "helpers.hpp"

using namespace fabench;

namespace {

using test::registry;

Plan parse(const std::string& text) { return parse_plan(text, registry(), "test.json"); }

// The message of the ConfigError parsing `text` raises.
std::string error_of(const std::string& text) {
  try {
    parse(text);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

const char* kValid = R"({
  "name": "t", "seed": 5,
  "timing": {"min_samples": 3, "l2": "hot"},
  "validation": {"max_rows": 10, "tolerance": {"bf16": 0.02}},
  "experiments": [
    {"op": "softmax", "variants": ["softmax.naive"], "rows": [4, 8], "cols": 16, "mask": "causal"},
    {"name": "attn", "op": "attention", "variants": [{"name": "attn.cpu_flash2", "params": {"block_m": [16, 32]}}],
     "dtype": ["fp32"], "batch": [4, 2], "seq_len": [128, 256], "zip": [["batch", "seq_len"]], "head_dim": 64,
     "timing": {"min_samples": 7}}
  ]})";

}  // namespace

TEST_CASE("a valid file parses with settings inherited and overridden", "[config]") {
  Plan p = parse(kValid);
  CHECK(p.name == "t");
  CHECK(p.seed == 5);
  REQUIRE(p.experiments.size() == 2);
  const Experiment& soft = p.experiments[0];
  CHECK(soft.op == OpKind::softmax);
  CHECK(soft.timing.min_samples == 3);
  CHECK(soft.timing.l2 == L2Mode::hot);
  CHECK(soft.validation.max_rows == 10);
  CHECK(soft.validation.tolerance.at(DType::bf16) == Approx(0.02));
  CHECK(soft.validation.tolerance.at(DType::fp32) == Approx(1e-4));
  const Experiment& attn = p.experiments[1];
  CHECK(attn.name == "attn");
  CHECK(attn.timing.min_samples == 7);
  CHECK(attn.timing.l2 == L2Mode::hot);  // inherited from the file level
  REQUIRE(attn.variants.size() == 1);
  CHECK(attn.variants[0].params.at("block_m") == std::vector<std::int64_t>{16, 32});
  REQUIRE(attn.zip.size() == 1);
}

TEST_CASE("timing.l2 is cold by default, or dirty, or hot, per file or per experiment", "[config]") {
  auto modes = [](const std::string& top, const std::string& own) {
    const Plan p = parse(R"({)" + top + R"("experiments": [
      {"op": "softmax", "variants": "all", "rows": 1, "cols": 1)" + own + R"(},
      {"op": "softmax", "variants": "all", "rows": 2, "cols": 1}]})");
    return std::pair{p.experiments[0].timing.l2, p.experiments[1].timing.l2};
  };
  CHECK(modes("", "") == std::pair{L2Mode::cold, L2Mode::cold});
  CHECK(modes(R"("timing": {"l2": "dirty"},)", "") == std::pair{L2Mode::dirty, L2Mode::dirty});
  CHECK(modes(R"("timing": {"l2": "hot"},)", R"(, "timing": {"l2": "cold"})") == std::pair{L2Mode::cold, L2Mode::hot});
  CHECK(modes("", R"(, "timing": {"l2": "dirty"})") == std::pair{L2Mode::dirty, L2Mode::cold});
  for (L2Mode m : {L2Mode::cold, L2Mode::dirty, L2Mode::hot}) CHECK(parse_l2_mode(to_string(m)) == m);
  CHECK_FALSE(parse_l2_mode("warm"));
}

TEST_CASE("errors name the JSON path and what was expected", "[config]") {
  CHECK(error_of(R"({"experiments": [{"op": "softmax", "variants": "all", "rows": 1, "cols": 1},
                                     {"op": "softmax", "variants": "all", "rows": 1, "cols": 1, "dtype": ["fp32", "bf17"]}]})") ==
        R"(experiments[1].dtype[1]: "bf17" is not one of fp32, tf32, fp16, bf16)");
  CHECK(error_of(R"({"experiments": [{"op": "softmax", "variants": "all", "rows": 1, "cols": 1, "colz": 3}]})") ==
        "experiments[0].colz: unknown key (expected one of: name, op, variants, zip, timing, validation, description, "
        "dtype, rows, cols, scale, mask, dropout)");
  CHECK(error_of(R"({"experiment": []})").rfind("experiment: unknown key", 0) == 0);
  CHECK(error_of(R"({"experiments": []})") == "experiments: expected a non-empty list of experiments");
  CHECK(error_of(R"({"experiments": [{"op": "matmul", "variants": "all"}]})") ==
        R"(experiments[0].op: "matmul" is not one of softmax, attention, softmax_matmul, decode, kv_append, generate, sparse_attention, attention_bwd, attention_fwd_bwd)");
  CHECK(error_of(R"({"experiments": [{"variants": "all"}]})") ==
        "experiments[0]: missing \"op\" (one of softmax, attention, softmax_matmul, decode, kv_append, generate, sparse_attention, attention_bwd, attention_fwd_bwd)");
  CHECK(error_of(R"({"experiments": [{"op": "softmax", "rows": 1, "cols": 1}]})") ==
        "experiments[0]: missing \"variants\" (a list of variant names, or \"all\")");
  CHECK(error_of(R"({"experiments": [{"op": "softmax", "variants": "all", "cols": 1}]})") ==
        "experiments[0]: missing \"rows\"");
  CHECK(error_of(R"({"experiments": [{"op": "attention", "variants": "all", "seq_len": 4}]})") ==
        "experiments[0]: missing \"head_dim\"");
  CHECK(error_of(R"({"experiments": [{"op": "attention", "variants": "all", "head_dim": 4}]})") ==
        "experiments[0]: missing \"seq_len\" (or \"seq_q\" and \"seq_k\")");
  CHECK(error_of(R"({"experiments": [{"op": "attention", "variants": "all", "head_dim": 4, "seq_len": 3, "seq_q": 2}]})") ==
        "experiments[0]: give either \"seq_len\" or \"seq_q\" and \"seq_k\", not both");
  CHECK(error_of(R"({"experiments": [{"op": "softmax", "variants": "all", "rows": 0, "cols": 1}]})") ==
        "experiments[0].rows: 0 is not a positive integer");
  CHECK(error_of(R"({"experiments": [{"op": "softmax", "variants": "all", "rows": [2, "x"], "cols": 1}]})") ==
        R"(experiments[0].rows[1]: expected a positive integer, got "x")");
  CHECK(error_of(R"({"experiments": [{"op": "softmax", "variants": "all", "rows": 1, "cols": 1, "dropout": 1}]})") ==
        "experiments[0].dropout: expected a probability in [0, 1), got 1");
  CHECK(error_of(R"({"experiments": [{"op": "softmax", "variants": "all", "rows": 1, "cols": 1, "mask": "diag"}]})") ==
        R"(experiments[0].mask: "diag" is not one of none, causal, tensor, lengths)");
  CHECK(error_of(R"({"experiments": [{"op": "attention", "variants": "all", "seq_len": 1, "head_dim": 1, "causal": "yes"}]})") ==
        R"(experiments[0].causal: expected true or false, got "yes")");
  CHECK(error_of(R"({"experiments": [{"op": "attention", "variants": "all", "seq_len": 1, "head_dim": 1, "scale": -1}]})") ==
        R"(experiments[0].scale: expected a positive number or "default", got -1)");
  CHECK(error_of(R"({"experiments": [{"op": "attention", "variants": "all", "seq_len": 1, "head_dim": 1, "mask": "causal"}]})")
            .rfind("experiments[0].mask: unknown key", 0) == 0);
}

TEST_CASE("variant and parameter errors", "[config]") {
  CHECK(error_of(R"({"experiments": [{"op": "softmax", "variants": ["softmax.nope"], "rows": 1, "cols": 1}]})")
            .rfind(R"(experiments[0].variants[0]: unknown variant "softmax.nope" (variants of softmax: )", 0) == 0);
  CHECK(error_of(R"({"experiments": [{"op": "softmax", "variants": ["attn.naive"], "rows": 1, "cols": 1}]})") ==
        R"(experiments[0].variants[0]: variant "attn.naive" computes attention, not softmax)");
  CHECK(error_of(R"({"experiments": [{"op": "attention", "variants": [{"name": "attn.naive", "params": {"block_q": 4}}],
                    "seq_len": 1, "head_dim": 1}]})") ==
        "experiments[0].variants[0].params.block_q: not a parameter of attn.naive (parameters: tile)");
  CHECK(error_of(R"({"experiments": [{"op": "attention", "variants": [{"name": "attn.naive", "params": {"tile": [16, 0]}}],
                    "seq_len": 1, "head_dim": 1}]})") ==
        "experiments[0].variants[0].params.tile[1]: 0 is below the minimum 1");
  CHECK(error_of(R"({"experiments": [{"op": "attention", "variants": [{"name": "attn.naive", "tiles": 3}],
                    "seq_len": 1, "head_dim": 1}]})") ==
        "experiments[0].variants[0].tiles: unknown key (expected one of: name, params)");
}

TEST_CASE("zip, timing, validation and syntax errors", "[config]") {
  CHECK(error_of(R"({"experiments": [{"op": "attention", "variants": "all", "seq_len": [1, 2], "batch": [1, 2, 3],
                    "head_dim": 1, "zip": [["seq_len", "batch"]]}]})") ==
        R"(experiments[0].zip[0][1]: axis "batch" has 3 values, but "seq_len" has 2: zipped axes need equal lengths)");
  CHECK(error_of(R"({"experiments": [{"op": "attention", "variants": "all", "seq_len": [1, 2], "head_dim": 1,
                    "zip": [["seq_len", "heads"]]}]})") ==
        R"(experiments[0].zip[0][1]: "heads" is not an axis of this experiment)");
  CHECK(error_of(R"({"timing": {"l2": "warm"}, "experiments": [{"op": "softmax", "variants": "all", "rows": 1, "cols": 1}]})") ==
        R"(timing.l2: "warm" is not one of cold, dirty, hot)");
  CHECK(error_of(R"({"experiments": [{"op": "softmax", "variants": "all", "rows": 1, "cols": 1, "timing": {"l2": "Cold"}}]})") ==
        R"(experiments[0].timing.l2: "Cold" is not one of cold, dirty, hot)");
  CHECK(error_of(R"({"timing": {"l2": true}, "experiments": [{"op": "softmax", "variants": "all", "rows": 1, "cols": 1}]})")
            .rfind("timing.l2: expected a string", 0) == 0);
  CHECK(error_of(R"({"timing": {"max_clock_drop": 1.5}, "experiments": [{"op": "softmax", "variants": "all", "rows": 1, "cols": 1}]})") ==
        "timing.max_clock_drop: 1.5 is outside [0, 1]");
  CHECK(error_of(R"({"experiments": [{"op": "softmax", "variants": "all", "rows": 1, "cols": 1, "timing": {"max_clock_drop": "3%"}}]})")
            .rfind("experiments[0].timing.max_clock_drop: expected a number", 0) == 0);
  CHECK(error_of(R"({"timing": {"min_sample": 3}, "experiments": [{"op": "softmax", "variants": "all", "rows": 1, "cols": 1}]})")
            .rfind("timing.min_sample: unknown key", 0) == 0);
  CHECK(error_of(R"({"validation": {"tolerance": {"fp8": 1}}, "experiments": [{"op": "softmax", "variants": "all", "rows": 1, "cols": 1}]})")
            .rfind("validation.tolerance.fp8: unknown key", 0) == 0);
  CHECK(error_of(R"({"name": "a b", "experiments": [{"op": "softmax", "variants": "all", "rows": 1, "cols": 1}]})")
            .rfind("name: must be a non-empty name", 0) == 0);
  std::string syntax = error_of(R"({"experiments": [)");
  CHECK(syntax.rfind("test.json: not valid JSON:", 0) == 0);
  CHECK_THROWS_AS(load_plan_file("/nonexistent/sweep.json", registry()), ConfigError);
}

TEST_CASE("softmax_matmul takes the seed's d1, d2, d3", "[config]") {
  Plan p = parse(R"({"experiments": [{"op": "softmax_matmul", "variants": "all", "batch": 16, "d1": 2048,
                     "d2": [64, 128], "d3": 512}]})");
  REQUIRE(p.experiments[0].axes.size() == 4);
  CHECK(error_of(R"({"experiments": [{"op": "softmax_matmul", "variants": "all", "d1": 2, "d2": 2}]})") ==
        "experiments[0]: missing \"d3\"");
  CHECK(error_of(R"({"experiments": [{"op": "softmax_matmul", "variants": "all", "d1": 2, "d2": 2, "d3": 2, "rows": 3}]})")
            .rfind("experiments[0].rows: unknown key", 0) == 0);
}

TEST_CASE("every shipped config parses", "[config]") {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(FABENCH_SOURCE_DIR) + "/configs")) {
    if (entry.path().extension() != ".json") continue;
    INFO(entry.path().string());
    CHECK_NOTHROW(load_plan_file(entry.path().string(), registry()));
    ++count;
  }
  CHECK(count >= 9);
  // The pair that compares the L2 modes times the same cases, one cold and one dirty.
  const std::string configs = std::string(FABENCH_SOURCE_DIR) + "/configs/";
  CHECK(load_plan_file(configs + "l2_cold.json", registry()).experiments.at(0).timing.l2 == L2Mode::cold);
  CHECK(load_plan_file(configs + "l2_dirty.json", registry()).experiments.at(0).timing.l2 == L2Mode::dirty);
}

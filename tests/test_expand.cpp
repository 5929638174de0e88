// Expansion, zip, filter, shard and duplicates.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <set>

#include "config/expand.hpp"
#include "core/variant.hpp"
#include "helpers.hpp"

using namespace fabench;

namespace {
using test::registry;
std::vector<ExpandedCase> expand(const std::string& text, std::size_t* dups = nullptr) {
  static std::vector<Plan> keep;  // cases point into their plan's experiments
  keep.push_back(parse_plan(text, registry(), "t"));
  return expand_plan(keep.back(), registry(), dups);
}
}  // namespace

TEST_CASE("axes combine as a cartesian product, last axis fastest", "[expand]") {
  auto cases = expand(R"({"experiments": [{"op": "softmax", "variants": ["softmax.naive", "softmax.cpu_reference"],
                         "rows": [1, 2], "cols": [3, 4, 5], "dtype": ["fp32", "bf16"]}]})");
  REQUIRE(cases.size() == 2 * 3 * 2 * 2);
  CHECK(cases[0].c.problem.rows == 1);
  CHECK(cases[0].c.problem.cols == 3);
  CHECK(cases[0].c.problem.dtype == DType::fp32);
  CHECK(cases[0].c.variant == "softmax.naive");
  CHECK(cases[1].c.variant == "softmax.cpu_reference");
  CHECK(cases[2].c.problem.dtype == DType::bf16);
  CHECK(cases[4].c.problem.cols == 4);
  CHECK(cases.back().c.problem.rows == 2);
  std::set<std::string> keys;
  for (auto& c : cases) keys.insert(c.c.key());
  CHECK(keys.size() == cases.size());
}

TEST_CASE("zipped axes advance together and kv_heads defaults to heads", "[expand]") {
  auto cases = expand(R"({"experiments": [{"op": "attention", "variants": ["attn.cpu_reference"],
                         "batch": [8, 4, 2], "seq_len": [512, 1024, 2048], "zip": [["batch", "seq_len"]],
                         "heads": [4, 8], "head_dim": 64}]})");
  REQUIRE(cases.size() == 3 * 2);
  for (auto& c : cases) {
    CHECK(c.c.problem.batch * c.c.problem.seq_q == 4096);
    CHECK(c.c.problem.kv_heads == c.c.problem.heads);
    CHECK(c.c.problem.seq_k == c.c.problem.seq_q);
  }
}

TEST_CASE("parameter lists expand and defaults are filled in", "[expand]") {
  auto cases = expand(R"({"experiments": [{"op": "attention", "seq_len": 8, "head_dim": 8,
                         "variants": [{"name": "attn.cpu_flash2", "params": {"block_m": [8, 16]}}]}]})");
  REQUIRE(cases.size() == 2);
  CHECK(cases[0].c.params.at("block_m") == 8);
  CHECK(cases[0].c.params.at("block_n") == 32);  // the declared default
  CHECK(cases[1].c.params.at("block_m") == 16);
}

TEST_CASE("invalid combinations are config errors naming the experiment", "[expand]") {
  try {
    expand(R"({"experiments": [{"op": "attention", "variants": "all", "seq_len": 8, "head_dim": 8, "heads": 6, "kv_heads": 4}]})");
    FAIL("expected an error");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()) == "experiments[0]: heads 6 is not a multiple of kv_heads 4");
  }
}

TEST_CASE("repeated cases across experiments are dropped and counted", "[expand]") {
  std::size_t dups = 0;
  auto cases = expand(R"({"experiments": [
      {"op": "softmax", "variants": ["softmax.naive"], "rows": [1, 2], "cols": 3},
      {"op": "softmax", "variants": ["softmax.naive"], "rows": [2, 3], "cols": 3}]})", &dups);
  CHECK(cases.size() == 3);
  CHECK(dups == 1);
}

TEST_CASE("filter keeps matching variants and rejects bad regexes", "[expand]") {
  auto cases = expand(R"({"experiments": [{"op": "attention", "variants": "all", "seq_len": 8, "head_dim": 8}]})");
  auto cpu = filter_cases(cases, "cpu_");
  REQUIRE(cpu.size() == 2);
  for (auto& c : cpu) CHECK(c.c.variant.find("cpu_") != std::string::npos);
  CHECK(filter_cases(cases, "").size() == cases.size());
  CHECK(filter_cases(cases, "^attn\\.naive$").size() == 1);
  CHECK_THROWS_AS(filter_cases(cases, "(unclosed"), ConfigError);
}

TEST_CASE("shards partition the cases exactly", "[expand]") {
  auto cases = expand(R"({"experiments": [{"op": "softmax", "variants": "all", "rows": [1, 2, 3, 4, 5], "cols": [1, 2, 3]}]})");
  for (int n : {1, 2, 3, 7, 40}) {
    std::multiset<std::string> seen;
    for (int i = 0; i < n; ++i)
      for (auto& c : select_shard(cases, Shard{i, n})) seen.insert(c.c.key());
    CHECK(seen.size() == cases.size());
    for (auto& c : cases) CHECK(seen.count(c.c.key()) == 1);
  }
}

TEST_CASE("shard text and Slurm variables", "[expand]") {
  Shard s = parse_shard("2/5");
  CHECK(s.index == 2);
  CHECK(s.count == 5);
  CHECK_THROWS_WITH(parse_shard("5/5"), Catch::Contains("i must be in [0, n)"));
  CHECK_THROWS_WITH(parse_shard("1-2"), Catch::Contains("no '/'"));
  CHECK_THROWS_WITH(parse_shard("a/2"), Catch::Contains("--shard \"a/2\""));
  CHECK_THROWS_WITH(parse_shard("0/0"), Catch::Contains("n must be at least 1"));
  ::unsetenv("SLURM_ARRAY_TASK_ID");
  CHECK_FALSE(shard_from_slurm_env().has_value());
  ::setenv("SLURM_ARRAY_TASK_ID", "4", 1);
  ::setenv("SLURM_ARRAY_TASK_COUNT", "4", 1);
  ::setenv("SLURM_ARRAY_TASK_MIN", "1", 1);  // --array=1-4
  auto env = shard_from_slurm_env();
  REQUIRE(env.has_value());
  CHECK(env->index == 3);
  CHECK(env->count == 4);
  ::unsetenv("SLURM_ARRAY_TASK_ID");
  ::unsetenv("SLURM_ARRAY_TASK_COUNT");
  ::unsetenv("SLURM_ARRAY_TASK_MIN");
}

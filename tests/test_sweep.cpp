// The whole sweep on CPU variants: output files, exit codes, refusing to overwrite, resume, shards.
#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "app/merge.hpp"
#include "app/sweep.hpp"
#include "core/op_tensors.hpp"
#include "report/csv.hpp"
#include "report/json_sink.hpp"

using namespace fabench;

namespace {

// The real variants plus two broken CPU ones, to prove failures are caught and reported.
Registry test_registry() {
  Registry r;
  register_all_variants(r);
  Variant wrong = *r.find("softmax.cpu_reference");
  wrong.name = "softmax.test_wrong";
  auto real = wrong.launch;
  wrong.launch = [real](const LaunchArgs& la) {
    real(la);
    static_cast<float*>(la.tensors[softmax_tensors::y])[3] += 0.25f;  // one wrong element
  };
  r.add(wrong);
  Variant lazy = wrong;
  lazy.name = "softmax.test_unwritten";
  lazy.launch = [](const LaunchArgs&) {};  // writes nothing: the NaN poison must be caught
  r.add(lazy);
  return r;
}

std::string write_config(const std::string& dir, const std::string& variants) {
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::string path = dir + "/sweep.json";
  std::ofstream(path) << R"({"name": "t", "timing": {"min_samples": 2, "min_time_s": 0, "max_time_s": 1},
    "experiments": [
      {"op": "softmax", "variants": )" << variants << R"(, "rows": [3, 5], "cols": [7, 64], "mask": ["none", "lengths"]},
      {"op": "attention", "variants": ["attn.cpu_flash2", "attn.naive"], "batch": 2, "heads": 2, "seq_len": 9, "head_dim": 8}
    ]})";
  return path;
}

SweepOptions options(const std::string& config, const std::string& out) {
  SweepOptions o;
  o.config_path = config;
  o.output_dir = out;
  o.argv = {"fa-bench"};
  return o;
}

}  // namespace

TEST_CASE("a CPU sweep writes every case once, GPU cases as unsupported", "[sweep]") {
  const std::string dir = (std::filesystem::temp_directory_path() / "fabench-sweep-ok").string();
  auto cfg = write_config(dir, R"(["softmax.cpu_reference"])");
  Registry reg = test_registry();
  auto opt = options(cfg, dir + "/out");
  opt.device = 99;  // no such device, also on a GPU machine: GPU variants must become unsupported rows
  CHECK(run_sweep(opt, reg) == 0);
  CsvTable t = read_csv(dir + "/out/t.csv");
  REQUIRE(t.rows.size() == 8 + 2);
  for (const auto& row : t.rows) {
    if (row.at("variant") == "attn.naive") {
      CHECK(row.at("status") == "unsupported");
      const std::string& why = row.at("reason");  // with a GPU: no device 99; without: no device at all
      CHECK((why.find("CUDA device 99 does not exist") != std::string::npos || why.rfind("no CUDA device", 0) == 0));
    } else {
      INFO(row.at("key") << " " << row.at("reason"));
      CHECK(row.at("status") == "ok");
      CHECK(std::stod(row.at("time_ms_median")) > 0);
      CHECK(std::stoi(row.at("samples")) >= 2);
      CHECK(std::stod(row.at("rel_l2_err")) < 1e-5);
    }
  }
  auto json = read_result_json(dir + "/out/t.json");
  CHECK(json["rows"].size() == 10);
  CHECK(json["metadata"]["schema_version"] == 1);
  CHECK(json["metadata"]["config"]["name"] == "t");
  CHECK(json["metadata"]["device"]["available"] == false);

  SECTION("running again without --resume refuses to touch the results") {
    CHECK(run_sweep(opt, reg) == 2);
    CHECK(read_csv(dir + "/out/t.csv").rows.size() == 10);
  }
  SECTION("--resume runs only what is missing") {
    // Drop the last two rows, as a killed job would have, plus half of a third.
    std::string text;
    {
      std::ifstream in(dir + "/out/t.csv");
      std::string line;
      std::vector<std::string> lines;
      while (std::getline(in, line)) lines.push_back(line);
      for (std::size_t i = 0; i + 2 < lines.size(); ++i) text += lines[i] + "\n";
      text += lines[lines.size() - 2].substr(0, 20);
    }
    { std::ofstream(dir + "/out/t.csv") << text; }
    auto resume = opt;
    resume.resume = true;
    CHECK(run_sweep(resume, reg) == 0);
    CsvTable after = read_csv(dir + "/out/t.csv");
    CHECK(after.rows.size() == 10);
    std::set<std::string> keys;
    for (auto& row : after.rows) keys.insert(row.at("key"));
    CHECK(keys.size() == 10);
    CHECK(read_result_json(dir + "/out/t.json")["rows"].size() == 10);
    // Resuming a complete output runs nothing and keeps everything.
    CHECK(run_sweep(resume, reg) == 0);
    CHECK(read_csv(dir + "/out/t.csv").rows.size() == 10);
  }
  SECTION("--overwrite keeps the old files as .bak") {
    auto over = opt;
    over.overwrite = true;
    over.filter = "flash2";
    CHECK(run_sweep(over, reg) == 0);
    CHECK(read_csv(dir + "/out/t.csv").rows.size() == 1);
    CHECK(read_csv(dir + "/out/t.csv.bak").rows.size() == 10);
  }
}

TEST_CASE("wrong and unwritten outputs are mismatches and the run exits 1", "[sweep]") {
  const std::string dir = (std::filesystem::temp_directory_path() / "fabench-sweep-bad").string();
  auto cfg = write_config(dir, R"(["softmax.test_wrong", "softmax.test_unwritten", "softmax.cpu_reference"])");
  Registry reg = test_registry();
  CHECK(run_sweep(options(cfg, dir + "/out"), reg) == 1);
  CsvTable t = read_csv(dir + "/out/t.csv");
  int mismatches = 0, ok = 0;
  for (const auto& row : t.rows) {
    if (row.at("variant") == "softmax.test_wrong") {
      CHECK(row.at("status") == "mismatch");
      CHECK(row.at("reason").find("rel_l2") != std::string::npos);
      ++mismatches;
    } else if (row.at("variant") == "softmax.test_unwritten") {
      CHECK(row.at("status") == "mismatch");
      CHECK(row.at("reason").find("NaN") != std::string::npos);
      ++mismatches;
    } else if (row.at("variant") == "softmax.cpu_reference") {
      CHECK(row.at("status") == "ok");  // the sweep went on after the failures
      ++ok;
    }
  }
  CHECK(mismatches == 16);
  CHECK(ok == 8);
}

TEST_CASE("shard outputs together equal the unsharded run", "[sweep]") {
  const std::string dir = (std::filesystem::temp_directory_path() / "fabench-sweep-shards").string();
  auto cfg = write_config(dir, R"(["softmax.cpu_reference"])");
  Registry reg = test_registry();
  auto whole = options(cfg, dir + "/whole");
  whole.device = 99;
  REQUIRE(run_sweep(whole, reg) == 0);
  std::set<std::string> expected, got;
  for (auto& row : read_csv(dir + "/whole/t.csv").rows) expected.insert(row.at("key"));
  for (int i = 0; i < 3; ++i) {
    auto part = options(cfg, dir + "/parts");
    part.device = 99;
    part.shard = Shard{i, 3};
    REQUIRE(run_sweep(part, reg) == 0);
    for (auto& row : read_csv(dir + "/parts/" + result_stem("t", part.shard) + ".csv").rows)
      CHECK(got.insert(row.at("key")).second);
  }
  CHECK(got == expected);
}

TEST_CASE("bad config files exit 2 with the error", "[sweep]") {
  const std::string dir = (std::filesystem::temp_directory_path() / "fabench-sweep-cfg").string();
  std::filesystem::create_directories(dir);
  { std::ofstream(dir + "/bad.json") << R"({"experiments": [{"op": "softmax", "variants": "all", "rows": 1, "cols": 1, "dtype": "bf17"}]})"; }
  Registry reg = test_registry();
  CHECK(run_sweep(options(dir + "/bad.json", dir + "/out"), reg) == 2);
  CHECK_FALSE(std::filesystem::exists(dir + "/out"));
}

TEST_CASE("merge: shards equal the unsharded run, a missing shard is reported, mixed configs refused", "[merge]") {
  const std::string dir = (std::filesystem::temp_directory_path() / "fabench-merge").string();
  auto cfg = write_config(dir, R"(["softmax.cpu_reference"])");
  Registry reg = test_registry();
  auto whole = options(cfg, dir + "/whole");
  whole.device = 99;
  REQUIRE(run_sweep(whole, reg) == 0);
  for (int i = 0; i < 3; ++i) {
    auto part = options(cfg, dir + "/parts");
    part.device = 99;
    part.shard = Shard{i, 3};
    REQUIRE(run_sweep(part, reg) == 0);
  }
  MergeOptions m;
  m.inputs = {dir + "/parts"};
  m.output = dir + "/merged";
  REQUIRE(run_merge(m, reg) == 0);
  std::vector<std::string> whole_keys, merged_keys;
  for (auto& row : read_csv(dir + "/whole/t.csv").rows) whole_keys.push_back(row.at("key"));
  for (auto& row : read_csv(dir + "/merged.csv").rows) merged_keys.push_back(row.at("key"));
  CHECK(merged_keys == whole_keys);  // same cases, same order
  auto merged_json = read_result_json(dir + "/merged.json");
  CHECK(merged_json["metadata"]["merged_from"].size() == 3);
  CHECK(merged_json["rows"].size() == whole_keys.size());

  SECTION("a missing shard is listed and nothing is written") {
    std::filesystem::remove(dir + "/parts/" + result_stem("t", Shard{1, 3}) + ".csv");
    m.output = dir + "/incomplete";
    CHECK(run_merge(m, reg) == 1);
    CHECK_FALSE(std::filesystem::exists(dir + "/incomplete.csv"));
    m.allow_missing = true;
    CHECK(run_merge(m, reg) == 1);
    CHECK(read_csv(dir + "/incomplete.csv").rows.size() < whole_keys.size());
  }
  SECTION("outputs of different configs are not merged unless told") {
    auto other_cfg = write_config(dir + "-other", R"(["softmax.naive"])");
    auto other = options(other_cfg, dir + "-other/out");
    other.device = 99;
    REQUIRE(run_sweep(other, reg) == 0);
    m.inputs = {dir + "/whole/t.csv", dir + "-other/out/t.csv"};
    m.output = dir + "/mixed";
    CHECK(run_merge(m, reg) == 2);
  }
  SECTION("the same case twice is a duplicate") {
    m.inputs = {dir + "/whole/t.csv", dir + "/parts/" + result_stem("t", Shard{0, 3}) + ".csv"};
    m.output = dir + "/dup";
    CHECK(run_merge(m, reg) == 1);
  }
}

TEST_CASE("a restart after a fault resumes and never overwrites", "[sweep]") {
  CHECK(restart_arguments({"fa-bench", "--config", "s.json", "--overwrite"}) ==
        std::vector<std::string>{"fa-bench", "--config", "s.json", "--resume"});
  CHECK(restart_arguments({"fa-bench", "--resume"}) == std::vector<std::string>{"fa-bench", "--resume"});
  CHECK(restart_arguments({"fa-bench"}) == std::vector<std::string>{"fa-bench", "--resume"});
}

// CSV and JSON written and read back; console and markdown views.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "report/console.hpp"
#include "report/csv.hpp"
#include "report/json_sink.hpp"

using namespace fabench;

namespace {
Result sample_result() {
  Result r;
  r.c.problem.op = OpKind::attention;
  r.c.problem.dtype = DType::bf16;
  r.c.problem.batch = 2;
  r.c.problem.heads = 8;
  r.c.problem.kv_heads = 2;
  r.c.problem.seq_q = r.c.problem.seq_k = 1024;
  r.c.problem.head_dim = 64;
  r.c.problem.causal = true;
  r.c.variant = "attn.naive";
  r.c.params = {{"tile", 16}, {"warps", 4}};
  r.c.experiment = "exp";
  r.status = Status::mismatch;
  r.reason = "o rel_l2 0.5 > tolerance, \"quoted\"\nsecond line";
  TimingStats t;
  t.median_ms = 1.25;
  t.mean_ms = 1.3;
  t.std_ms = 0.01;
  t.min_ms = 1.2;
  t.samples = 12;
  r.timing = t;
  r.tflops = 3.5;
  r.gbps = 100;
  r.pct_peak_bw = 2.5;
  r.peak_mem_mib = 12;
  r.max_abs_err = 0.5;
  r.rel_l2_err = 0.5;
  r.tolerance = 0.01;
  r.gpu = "NVIDIA H100 80GB HBM3";
  return r;
}
std::string temp_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("fabench-test-" + name);
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d.string();
}
}  // namespace

TEST_CASE("CSV escaping round-trips commas, quotes and newlines", "[report]") {
  for (std::string f : {"plain", "a,b", "say \"hi\"", "two\nlines", ""}) CHECK(csv_split_line(csv_escape(f)) == std::vector<std::string>{f});
  CHECK(csv_split_line("a,\"b,c\",d") == std::vector<std::string>{"a", "b,c", "d"});
}

TEST_CASE("result rows are written, flushed and read back", "[report]") {
  const std::string path = temp_dir("csv") + "/r.csv";
  Result r = sample_result();
  {
    CsvWriter w(path);
    w.write(result_fields(r));
  }
  {
    CsvWriter again(path);  // appending does not repeat the header
    Result r2 = r;
    r2.status = Status::ok;
    r2.reason.clear();
    again.write(result_fields(r2));
  }
  CsvTable t = read_csv(path);
  CHECK(t.header == result_columns());
  REQUIRE(t.rows.size() == 2);
  const TextRow& row = t.rows[0];
  CHECK(row.at("key") == r.c.key());
  CHECK(row.at("reason") == r.reason);
  CHECK(row.at("status") == "mismatch");
  CHECK(row.at("params") == "tile=16,warps=4");
  CHECK(row.at("time_ms_median") == "1.25");
  CHECK(row.at("kv_heads") == "2");
  CHECK(row.at("rows").empty());  // softmax fields stay empty for attention
  CHECK(row.at("pct_peak_flops").empty());
  CHECK(row.at("scale") == "0.125");
  CHECK(t.rows[1].at("status") == "ok");
  CHECK(to_text_row(r) == row);
}

TEST_CASE("a half-written last line is cut before resuming", "[report]") {
  const std::string path = temp_dir("trunc") + "/r.csv";
  {
    CsvWriter w(path);
    w.write(result_fields(sample_result()));
  }
  { std::ofstream(path, std::ios::app) << "attention/bf16/b2,partial"; }
  CHECK_THROWS(read_csv(path));
  CHECK(truncate_partial_last_line(path));
  CHECK(read_csv(path).rows.size() == 1);
  CHECK_FALSE(truncate_partial_last_line(path));
}

TEST_CASE("the JSON file holds metadata and typed rows", "[report]") {
  const std::string path = temp_dir("json") + "/r.json";
  ordered_json meta = {{"schema_version", kSchemaVersion}, {"gpu", "test"}};
  JsonSink sink(path, meta);
  sink.write();
  CHECK(read_result_json(path)["rows"].empty());
  sink.add(to_text_row(sample_result()));  // within a second of the last write: held back
  CHECK(read_result_json(path)["rows"].empty());
  sink.write();
  ordered_json j = read_result_json(path);
  CHECK(j["metadata"]["gpu"] == "test");
  REQUIRE(j["rows"].size() == 1);
  const auto& row = j["rows"][0];
  CHECK(row["time_ms_median"].get<double>() == Approx(1.25));
  CHECK(row["samples"].get<int>() == 12);
  CHECK(row["causal"].get<bool>());
  CHECK(row["rows"].is_null());
  CHECK(row["status"] == "mismatch");
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
  { std::ofstream(path) << "{\"rows\": []}"; }
  CHECK_THROWS_WITH(read_result_json(path), Catch::Contains("not an fa-bench result file"));
}

TEST_CASE("console progress, summary and markdown pivot", "[report]") {
  Result r = sample_result();
  r.status = Status::ok;
  r.reason.clear();
  TextRow row = to_text_row(r);
  std::string line = progress_line(3, 10, row, 65);
  CHECK(line.find("[3/10] attn.naive bf16 b2 h8/2 s1024 d64 causal tile=16,warps=4 ok 1.2500 ms 3.50 TFLOP/s") == 0);
  CHECK(line.find("eta 1m05s") != std::string::npos);
  CHECK(format_duration(3725) == "1h02m");

  std::vector<TextRow> rows = {row};
  Result other = r;
  other.c.problem.seq_q = other.c.problem.seq_k = 2048;
  other.c.problem.head_dim = 128;
  rows.push_back(to_text_row(other));
  Result skipped = r;
  skipped.status = Status::unsupported;
  skipped.reason = "no CUDA device (none)";
  skipped.gpu = "";
  skipped.c.problem.head_dim = 32;
  rows.push_back(to_text_row(skipped));
  std::string md = markdown_pivot(rows);
  CHECK(md.find("### attn.naive bf16 causal gqa 8:2 tile=16,warps=4 (time_ms_median)") != std::string::npos);
  CHECK(md.find("| seq_len \\ head_dim | 64 | 128 | 32 |") != std::string::npos);
  CHECK(md.find("| 1024 | 1.2500 |  | unsupported |") != std::string::npos);
  CHECK(md.find("| 2048 |  | 1.2500 |  |") != std::string::npos);
  std::string table = summary_table(rows);
  CHECK(table.find("unsupported") == std::string::npos);  // skips are summarised, not listed
  std::string summary = status_summary(rows);
  CHECK(summary.find("3 cases: 2 ok 1 unsupported") == 0);
  CHECK(summary.find("GPU variants were skipped (1 cases): no CUDA device (none)") != std::string::npos);
}

TEST_CASE("ratio pivot divides the baseline's time by each variant's on the same problem", "[report]") {
  Result base = sample_result();
  base.status = Status::ok;
  base.reason.clear();
  base.c.variant = "attn.base";
  base.c.params.clear();
  Result fast = base;
  fast.c.variant = "attn.fast";
  fast.timing->median_ms = base.timing->median_ms / 2;
  std::vector<TextRow> rows = {to_text_row(base), to_text_row(fast)};
  CHECK(problem_key(rows[1]) == base.c.problem.key());
  std::string md = markdown_ratio_pivot(rows, "attn.base");
  CHECK(md.find("### attn.fast bf16 causal gqa 8:2 (speedup_vs_attn.base)") != std::string::npos);
  CHECK(md.find("| 1024 | 2.00 |") != std::string::npos);
  CHECK(md.find("attn.base bf16") == std::string::npos);
  CHECK(markdown_ratio_pivot(rows, "attn.none").rfind("no ok rows of the baseline attn.none", 0) == 0);
}

#include "app/compare.hpp"

TEST_CASE("compare: verdicts account for noise and the minimum change", "[report]") {
  Result base = sample_result();
  base.status = Status::ok;
  base.reason.clear();
  TextRow a = to_text_row(base);
  auto with = [&](double median, double std_ms, int samples) {
    Result r = base;
    r.timing->median_ms = median;
    r.timing->std_ms = std_ms;
    r.timing->samples = samples;
    return to_text_row(r);
  };
  a = with(1.0, 0.001, 100);
  CHECK(compare_times(a, with(0.9, 0.001, 100), 0.02) == Verdict::faster);
  CHECK(compare_times(a, with(1.1, 0.001, 100), 0.02) == Verdict::slower);
  CHECK(compare_times(a, with(0.99, 0.001, 100), 0.02) == Verdict::same);  // under the minimum change
  CHECK(compare_times(a, with(0.9, 1.0, 4), 0.02) == Verdict::same);       // inside the noise
  auto rows = compare_rows({a}, {with(0.5, 0.001, 100)}, false, 0.02);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].ratio == Approx(2.0));
  CHECK(rows[0].verdict == Verdict::faster);
  // Different variants join only by problem.
  Result peer = base;
  peer.c.variant = "torch.sdpa_flash";
  peer.c.params.clear();
  CHECK(compare_rows({a}, {to_text_row(peer)}, false, 0.02).empty());
  CHECK(compare_rows({a}, {to_text_row(peer)}, true, 0.02).size() == 1);
}

TEST_CASE("the status summary says when a percent of peak exceeds 102%: the calibration is wrong", "[report]") {
  Result within = sample_result();
  within.status = Status::ok;
  within.reason.clear();
  within.pct_peak_bw = 101.5;  // within the 2% of slack for noise between leases
  within.pct_peak_flops = 60.0;
  CHECK(status_summary({to_text_row(within)}).find("percent-of-peak") == std::string::npos);
  Result above = within;
  above.c.variant = "decode.split_kv";
  above.pct_peak_bw = 102.9;
  Result above_flops = within;
  above_flops.pct_peak_flops = 104.25;
  const std::string s = status_summary({to_text_row(within), to_text_row(above), to_text_row(above_flops)});
  INFO(s);
  CHECK(s.find("2 percent-of-peak figures exceed 102% (up to 104.2%, attn.") != std::string::npos);
  CHECK(s.find("pct_peak_flops): the calibration's ceilings are below what was measured; run `fa-bench calibrate`") !=
        std::string::npos);
}

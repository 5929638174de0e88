// The generate op (seed 001 task 6): its config axes and errors, key, FLOP and byte models, the
// TTFT/TBT columns, and the self-timed path of the harness (stopping rule and runner) with fakes.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <thread>

#include "config/expand.hpp"
#include "config/plan.hpp"
#include "core/models.hpp"
#include "helpers.hpp"
#include "ops/generate.hpp"
#include "ops/registry.hpp"
#include "report/csv.hpp"
#include "report/json_sink.hpp"
#include "report/rows.hpp"
#include "run/runner.hpp"
#include "run/timer.hpp"

using namespace fabench;

namespace {

std::string error_of(const std::string& text) { return test::expand_error(text); }

std::string generate_json(const std::string& axes) {
  return R"({"experiments": [{"op": "generate", "variants": ["generate.loop"], )" + axes + "}]}";
}

Problem tiny() {
  Problem p;
  p.op = OpKind::generate;
  p.dtype = DType::bf16;
  p.batch = 1;
  p.heads = 2;
  p.kv_heads = 1;
  p.head_dim = 64;
  p.d_model = 128;
  p.prompt_len = 3;
  p.steps = 2;
  p.seed = 3;
  return p;
}

}  // namespace

TEST_CASE("generate: config errors name their JSON path", "[generate][config]") {
  CHECK(error_of(generate_json(R"("dtype": "fp32", "heads": 2, "head_dim": 64)")) ==
        R"(experiments[0].dtype: "fp32" is not one of fp16, bf16)");
  CHECK(error_of(generate_json(R"("heads": 2, "head_dim": [64, 96])")) ==
        "experiments[0].head_dim[1]: 96 is not one of 64, 128, 256");
  CHECK(error_of(generate_json(R"("heads": 2, "head_dim": 64, "page_size": 32)")) ==
        "experiments[0].page_size: 32 is not one of 0 (contiguous), 16, 64, 256");
  CHECK(error_of(generate_json(R"("heads": 2, "head_dim": 64, "steps": 0)")) ==
        "experiments[0].steps: 0 is not a positive integer");
  CHECK(error_of(generate_json(R"("head_dim": 64)")) == R"(experiments[0]: missing "heads")");
  CHECK(error_of(generate_json(R"("heads": 12, "kv_heads": 5, "head_dim": 64)")) ==
        "experiments[0]: heads 12 is not a multiple of kv_heads 5");
  CHECK(error_of(generate_json(R"("heads": 2, "head_dim": 64, "seq_len": 9)"))
            .rfind("experiments[0].seq_len: unknown key", 0) == 0);
  // graph is 0 or 1: a parameter whose allowed values hold 0 takes 0 in a config.
  CHECK(error_of(R"({"experiments": [{"op": "generate", "variants": [{"name": "generate.loop",
                    "params": {"graph": [0, 1]}}], "heads": 2, "head_dim": 64}]})") == "(no error)");
}

TEST_CASE("generate: defaults, key and label", "[generate][config]") {
  const Plan plan = parse_plan(generate_json(R"("heads": 32, "kv_heads": 8, "head_dim": 128)"), test::registry(), "t");
  const auto cases = expand_plan(plan, test::registry());
  REQUIRE(cases.size() == 1);
  const Problem& p = cases[0].c.problem;
  CHECK(p.dtype == DType::bf16);
  CHECK(p.d_model == 4096);
  CHECK(p.prompt_len == 1024);
  CHECK(p.steps == 100);
  CHECK(p.page_size == 0);
  CHECK(p.effective_scale() == Approx(1 / std::sqrt(128.0)));
  CHECK(p.key() == "generate/bf16/b1/h32/kv8/d128/m4096/p1024/t100/page0/scaledefault");
  CHECK(cases[0].c.key() == p.key() + "/generate.loop/decode_version=3,graph=0");
  CHECK(p.shape_label() == "bf16 b1 h32/8 d128 m4096 p1024+t100");
  Problem paged = p;
  paged.page_size = 16;
  paged.kv_heads = 32;
  CHECK(paged.shape_label() == "bf16 b1 h32 d128 m4096 p1024+t100 page16");
}

TEST_CASE("generate: FLOP and byte models on a tiny case", "[generate][models]") {
  const Problem p = tiny();  // b1 h2 kv1 d64 m128, P 3, T 2: cache lengths 4 and 5 at the steps
  // Projections per token: 2*m*(h + 2kv)*d + 2*h*d*m = 65536 + 32768.
  const double per_token = 2.0 * 128 * 4 * 64 + 2.0 * 2 * 64 * 128;
  const double prefill = 3 * per_token + 4.0 * 2 * 64 * 6;  // causal_pairs(3, 3) = 6
  const double steps = 2 * per_token + 4.0 * 2 * 64 * (4 + 5);
  CHECK(causal_pairs(3, 3) == 6);
  CHECK(model_flops(p) == Approx(prefill + steps));
  // Weights m*(h + 2kv)*d + h*d*m = 49152 elements; prefill: weights + x (3*128) + K, V (2*3*64) +
  // y_first (128); each step: weights + x (128) + y (128), and the cache read 2*64*(4 + 5).
  const double elems = (49152 + 384 + 384 + 128) + 2 * (49152 + 128 + 128) + 2 * 64 * 9;
  CHECK(model_bytes(p) == Approx(2 * elems));
}

TEST_CASE("generate: tensors, seeded weights of order 1/sqrt(fan in), a paged table", "[generate][inputs]") {
  Problem p = tiny();
  p.page_size = 16;
  const auto specs = op_tensors(p);
  REQUIRE(specs.size() == generate_tensors::count);
  CHECK(specs[generate_tensors::k_cache].count == static_cast<std::size_t>(generate_cache_shape(p).elements()));
  CHECK(specs[generate_tensors::page_table].count == 1);  // 5 tokens fit one page of 16
  p.page_size = 0;
  CHECK(op_tensors(p)[generate_tensors::page_table].count == 0);
  CHECK(op_tensors(p)[generate_tensors::k_cache].count == 1 * 1 * 5 * 64);
  p.d_model = 4096;
  const auto host = make_host_tensors(p);
  double sum2 = 0;
  const auto& wq = host[generate_tensors::wq].values;
  for (float x : wq) sum2 += static_cast<double>(x) * x;
  CHECK(sum2 / static_cast<double>(wq.size()) == Approx(1.0 / 4096).epsilon(0.05));  // variance 1 / d_model
  CHECK(make_host_tensors(p)[generate_tensors::wq].bytes == host[generate_tensors::wq].bytes);
}

TEST_CASE("generate: TTFT and TBT columns from the samples, written and read back", "[generate][report]") {
  const Problem p = tiny();
  std::vector<LaunchMetrics> samples(2);
  samples[0].values["ttft_ms"] = 3;
  samples[0].series["step_ms"] = {1, 2, 3, 4};
  samples[1].values["ttft_ms"] = 5;
  samples[1].series["step_ms"] = {5, 6, 7, 8};
  Result r;
  r.c.problem = p;
  r.c.variant = "generate.loop";
  r.c.params = {{"graph", 1}, {"decode_version", 3}};
  r.c.experiment = "e";
  TimingStats t;
  t.median_ms = t.mean_ms = t.min_ms = 30;
  t.samples = 2;
  r.timing = t;
  summarize_generate(p, samples, r);
  CHECK(r.metrics.at("ttft_ms") == 4);                // median of 3 and 5
  CHECK(r.metrics.at("tbt_ms_mean") == 4.5);          // all 8 steps pooled
  CHECK(r.metrics.at("tbt_ms_p50") == 4.5);
  CHECK(r.metrics.at("tbt_ms_p90") == Approx(7.3));   // rank 6.3 of 0..7, as numpy.percentile
  CHECK(r.metrics.at("tbt_ms_p99") == Approx(7.93));
  CHECK(r.metrics.at("tokens_per_s") == Approx(1000 / 4.5));

  const std::vector<Column> columns = plan_columns(parse_plan(generate_json(R"("heads": 2, "head_dim": 64)"),
                                                              test::registry(), "t"));
  std::vector<std::string> expected = result_columns();
  for (const char* c : {"d_model", "prompt_len", "steps", "page_size", "ttft_ms", "tbt_ms_mean", "tbt_ms_p50",
                        "tbt_ms_p90", "tbt_ms_p99", "tokens_per_s"})
    expected.push_back(c);
  REQUIRE(column_names(columns) == expected);
  const TextRow row = to_text_row(r);
  CHECK(row.at("ttft_ms") == "4");
  CHECK(row.at("tbt_ms_p90") == "7.3");
  CHECK(row.at("prompt_len") == "3");
  CHECK(row.at("page_size") == "0");

  const auto dir = std::filesystem::temp_directory_path() / "fabench-test-generate-columns";
  std::filesystem::remove_all(dir);
  const std::string csv_path = (dir / "r.csv").string(), json_path = (dir / "r.json").string();
  {
    CsvWriter csv(csv_path, column_names(columns));
    csv.write(row_fields(row, columns));
  }
  const CsvTable table = read_csv(csv_path);
  REQUIRE(table.rows.size() == 1);
  CHECK(table.rows[0] == row);
  JsonSink json(json_path, ordered_json::object(), columns);
  json.add(table.rows[0]);
  json.write();
  const ordered_json doc = read_result_json(json_path);
  CHECK(doc["rows"][0]["tbt_ms_p50"] == 4.5);
  CHECK(doc["rows"][0]["steps"] == 2);
  CHECK(doc["rows"][0]["tokens_per_s"].get<double>() == Approx(222.222));

  // A column two ops share is listed once.
  OpSpec twin = op_spec(OpKind::generate);
  twin.name = "twin";
  CHECK(column_names(file_columns({&op_spec(OpKind::generate), &twin})) == expected);
}

TEST_CASE("self-timed sampling: warm-up, then the stopping rule over the launches' own totals", "[generate][timer]") {
  TimingSettings t;
  t.warmup = 2;
  t.min_samples = 5;
  t.min_time_s = 0;
  t.max_noise = 1;
  t.max_time_s = 10;
  int launches = 0;
  auto fake = [&] {
    ++launches;
    LaunchMetrics m;
    m.total_ms = 2.0 + (launches % 2) * 0.1;
    m.values["ttft_ms"] = 1;
    m.series["step_ms"] = {0.5, 0.5};
    return m;
  };
  std::vector<LaunchMetrics> samples;
  TimingStats s = time_self_timed(fake, t, samples);
  CHECK(launches == 7);  // 2 warm-up + 5 samples
  CHECK(s.samples == 5);
  CHECK(samples.size() == 5);
  CHECK(s.min_ms == Approx(2.0));
  CHECK(s.median_ms == Approx(2.1));  // launches 3..7: 2.1, 2.0, 2.1, 2.0, 2.1
  CHECK_FALSE(s.hit_time_limit);

  // Measured time counts the reported totals, not the wall clock: 20 ms needs 10 samples of 2 ms.
  t.warmup = 0;
  t.min_time_s = 0.02;
  launches = 0;
  samples.clear();
  s = time_self_timed([&] { ++launches; LaunchMetrics m; m.total_ms = 2; return m; }, t, samples);
  CHECK(s.samples == 10);

  // Out of time before min_samples: stops, and says so.
  t.min_time_s = 0;
  t.min_samples = 1000;
  t.max_time_s = 0.05;
  samples.clear();
  s = time_self_timed(
      [&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        LaunchMetrics m;
        m.total_ms = 10;
        return m;
      },
      t, samples);
  CHECK(s.hit_time_limit);
  CHECK(s.samples < 1000);
  CHECK(s.samples >= 1);
}

TEST_CASE("the runner's self-timed path with a fake CPU variant of generate", "[generate][runner]") {
  Registry registry;
  int launches = 0;
  registry.add(Variant{"generate.fake", OpKind::generate, Backend::cpu, "fake", {DType::bf16}, {}, {}, "", nullptr,
                       nullptr, [&](const LaunchArgs& la) {
                         ++launches;
                         REQUIRE(la.metrics != nullptr);
                         la.metrics->values["ttft_ms"] = 10;
                         la.metrics->series["step_ms"] = std::vector<double>(static_cast<std::size_t>(la.problem.steps), 1.0);
                         la.metrics->total_ms = 10 + static_cast<double>(la.problem.steps);
                       }});
  DeviceInfo device;  // no GPU: the CPU path
  Runner runner(registry, device, std::nullopt);
  Experiment e;
  e.name = "e";
  e.timing.warmup = 1;
  e.timing.min_samples = 4;
  e.timing.min_time_s = 0;
  e.timing.max_noise = 1;
  e.validation.enabled = false;
  const Problem p = tiny();
  const Result r = runner.run(ExpandedCase{Case{p, "generate.fake", {}, "e"}, &e});
  INFO(r.reason);
  CHECK(r.status == Status::ok);
  CHECK(launches == 1 + 1 + 4);  // validated + warm-up + samples
  REQUIRE(r.timing);
  CHECK(r.timing->samples == 4);
  CHECK(r.timing->median_ms == 12);
  CHECK(r.metrics.at("ttft_ms") == 10);
  CHECK(r.metrics.at("tbt_ms_p99") == 1);
  CHECK(r.metrics.at("tokens_per_s") == 1000);
  CHECK(r.tflops > 0);
  CHECK(to_text_row(r).at("tbt_ms_mean") == "1");
}

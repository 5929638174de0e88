// The op registry, and what an op of its own may add: extra result columns (shown with a fake op
// built from softmax), custom input fills, and a choice of bandwidth ceiling.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <set>

#include "app/compare.hpp"
#include "ops/registry.hpp"
#include "report/console.hpp"
#include "report/csv.hpp"
#include "report/json_sink.hpp"
#include "run/host_tensors.hpp"
#include "run/runner.hpp"

using namespace fabench;

namespace {

// softmax with two columns of its own: one that describes the case, one that is measured.
OpSpec fake_op_with_columns() {
  OpSpec op = op_spec(OpKind::softmax);
  op.extra_columns = {
      {"fake_cache_len", ColumnType::integer, true, [](const Result& r) { return std::to_string(2 * r.c.problem.rows); }},
      {"fake_ratio", ColumnType::real, false,
       [](const Result& r) { return r.timing ? std::string("0.25") : std::string(); }}};
  return op;
}

Result softmax_result(std::int64_t rows, double median_ms) {
  Result r;
  r.c.problem.op = OpKind::softmax;
  r.c.problem.rows = rows;
  r.c.problem.cols = 64;
  r.c.variant = "softmax.fused";
  r.c.experiment = "e";
  TimingStats t;
  t.median_ms = t.mean_ms = t.min_ms = median_ms;
  t.samples = 10;
  r.timing = t;
  return r;
}

}  // namespace

TEST_CASE("every OpKind has one OpSpec, found by kind and by name, in config order", "[ops]") {
  std::vector<std::string> names;
  for (const OpSpec* op : all_ops()) {
    names.push_back(op->name);
    CHECK(&op_spec(op->kind) == op);
    CHECK(find_op(op->name) == op);
    CHECK(parse_op(op->name) == op->kind);
    CHECK(to_string(op->kind) == op->name);
    CHECK(op->key);
    CHECK(op->tensors);
    CHECK(op->validate);
    CHECK(op->shape_columns);
  }
  CHECK(names == std::vector<std::string>{"softmax", "attention", "softmax_matmul", "decode", "kv_append", "generate",
                                        "sparse_attention", "attention_bwd", "attention_fwd_bwd"});
  CHECK(std::string(op_choices()) == "softmax, attention, softmax_matmul, decode, kv_append, generate, "
                                     "sparse_attention, attention_bwd, attention_fwd_bwd");
  CHECK(find_op("prefill") == nullptr);
}

TEST_CASE("files of ops without extra columns keep the base list, and shared extra columns appear once", "[ops][report]") {
  CHECK(column_names(file_columns({&op_spec(OpKind::softmax), &op_spec(OpKind::attention),
                                   &op_spec(OpKind::softmax_matmul)})) == result_columns());
  std::vector<std::string> with_cache = result_columns();
  for (const char* name : {"max_len", "lengths", "page_size"}) with_cache.push_back(name);
  CHECK(column_names(file_columns({&op_spec(OpKind::decode), &op_spec(OpKind::kv_append)})) == with_cache);
  CHECK(column_names(file_columns({&op_spec(OpKind::kv_append)})) == with_cache);
}

TEST_CASE("an op's extra columns follow the base list, are written, typed and read back", "[ops][report]") {
  const OpSpec fake = fake_op_with_columns();
  const std::vector<Column> columns = file_columns({&fake});
  std::vector<std::string> expected = result_columns();
  expected.push_back("fake_cache_len");
  expected.push_back("fake_ratio");
  REQUIRE(column_names(columns) == expected);

  const TextRow fake_row = to_text_row(softmax_result(8, 2.0), fake);
  const TextRow plain_row = to_text_row(softmax_result(16, 1.0));  // an op without those columns
  CHECK(fake_row.at("fake_cache_len") == "16");
  CHECK(fake_row.at("fake_ratio") == "0.25");
  CHECK_FALSE(plain_row.count("fake_cache_len"));

  const auto dir = std::filesystem::temp_directory_path() / "fabench-test-extra-columns";
  std::filesystem::remove_all(dir);
  const std::string csv_path = (dir / "r.csv").string(), json_path = (dir / "r.json").string();
  {
    CsvWriter csv(csv_path, column_names(columns));
    csv.write(row_fields(fake_row, columns));
    csv.write(row_fields(plain_row, columns));
  }
  const CsvTable t = read_csv(csv_path);
  CHECK(t.header == expected);
  REQUIRE(t.rows.size() == 2);
  CHECK(t.rows[0] == fake_row);
  CHECK(t.rows[1].at("fake_cache_len").empty());

  JsonSink json(json_path, ordered_json::object(), columns);
  for (const auto& row : t.rows) json.add(row);
  json.write();
  const ordered_json doc = read_result_json(json_path);
  CHECK(doc["rows"][0]["fake_cache_len"] == 16);
  CHECK(doc["rows"][0]["fake_ratio"] == 0.25);
  CHECK(doc["rows"][1]["fake_cache_len"].is_null());
  CHECK(doc["rows"][0].size() == expected.size());

  // Readers that work on rows by name take the extra columns in their stride.
  CHECK(compare_rows({t.rows[0]}, {t.rows[0]}, false, 0.02).size() == 1);
  CHECK(markdown_pivot(t.rows).find("softmax.fused") != std::string::npos);
}

TEST_CASE("a custom fill fills its tensor once, from the tensor's own seed", "[ops][inputs]") {
  Problem p;
  p.seed = 42;
  // An int32 page table: a seeded permutation of 0..count-1.
  auto permutation = [](const Problem&, std::uint64_t seed, HostTensor& t) {
    auto* pages = t.as_mutable<std::int32_t>();
    std::iota(pages, pages + t.spec.count, 0);
    std::uint64_t state = seed;
    for (std::size_t i = t.spec.count; i > 1; --i) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      std::swap(pages[i - 1], pages[(state >> 33) % i]);
    }
  };
  const std::vector<TensorSpec> specs = {{"x", ElemType::f32, 16, false, Fill::normal},
                                         {"pages", ElemType::i32, 1000, false, Fill::custom, permutation},
                                         {"pages_too", ElemType::i32, 1000, false, Fill::custom, permutation}};
  auto a = make_host_tensors(p, specs), b = make_host_tensors(p, specs);
  const auto* pages = a[1].as<std::int32_t>();
  std::vector<std::int32_t> sorted(pages, pages + 1000);
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::int32_t> identity(1000);
  std::iota(identity.begin(), identity.end(), 0);
  CHECK(sorted == identity);                    // a permutation
  CHECK(a[1].bytes == b[1].bytes);              // seeded: the same problem gives the same table
  CHECK(a[1].bytes != a[2].bytes);              // each tensor has its own seed
  CHECK(a[1].values.empty());                   // index tensors are not decoded to float
  CHECK(a[0].bytes == b[0].bytes);
}

TEST_CASE("pct_peak_bw divides by the ceiling the op asks for (0 where not measured)", "[ops][models]") {
  Ceilings c;
  c.copy_gbps = 3000;
  OpSpec reads = op_spec(OpKind::softmax);
  reads.bandwidth_ceiling = BandwidthCeiling::read;
  for (const OpSpec* op : all_ops())  // generate's steps read weights and cache: the read ceiling
    CHECK(bandwidth_ceiling_gbps(c, *op) == (op->bandwidth_ceiling == BandwidthCeiling::copy ? 3000 : 0));
  CHECK(bandwidth_ceiling_gbps(c, reads) == 0);  // not calibrated: pct_peak_bw stays empty
  c.read_gbps = 4500;
  CHECK(bandwidth_ceiling_gbps(c, reads) == 4500);
}

TEST_CASE("the unit uniform fill: mean 0, variance 1, never 0, seeded", "[ops][fill]") {
  const std::size_t n = (1 << 16) * 3 + 5;  // three chunks and a tail that is not a multiple of 4
  const std::vector<TensorSpec> specs = {{"x", ElemType::f32, n, false, Fill::uniform_unit},
                                         {"y", ElemType::bf16, n, false, Fill::uniform_unit}};
  Problem p;
  p.seed = 7;
  const std::vector<HostTensor> a = make_host_tensors(p, specs), b = make_host_tensors(p, specs);
  CHECK(a[0].bytes == b[0].bytes);
  double sum = 0, sum2 = 0;
  bool zero = false, outside = false;
  for (std::size_t i = 0; i < n; ++i) {
    const double x = a[0].values[i];
    sum += x, sum2 += x * x;
    zero = zero || x == 0.0;
    outside = outside || std::fabs(x) > 1.7320509;
  }
  CHECK_FALSE(zero);
  CHECK_FALSE(outside);
  CHECK(std::fabs(sum / n) < 0.01);
  CHECK(std::fabs(sum2 / n - 1.0) < 0.01);
  // bf16 storage: rounding keeps every value nonzero and inside the range.
  CHECK(std::none_of(a[1].values.begin(), a[1].values.end(), [](float x) { return x == 0.0f || std::fabs(x) > 1.75f; }));
  p.seed = 8;
  CHECK(make_host_tensors(p, specs)[0].bytes != a[0].bytes);
}

// The validator: row sampling, poison detection, tolerances.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <set>

#include "reference/attention_reference.hpp"
#include "reference/softmax_reference.hpp"
#include "run/host_tensors.hpp"
#include "run/validate.hpp"

using namespace fabench;

TEST_CASE("row sampling covers every group and is seeded", "[validate]") {
  auto all = sample_rows(3, 4, 100, 1);
  CHECK(all.size() == 12);
  auto s = sample_rows(50, 1000, 256, 7);
  std::set<std::int64_t> groups;
  for (auto r : s) groups.insert(r / 1000);
  CHECK(groups.size() == 50);
  CHECK(s.size() == 50 * 5);  // 256 / 50 = 5 per group
  CHECK(std::is_sorted(s.begin(), s.end()));
  CHECK(sample_rows(50, 1000, 256, 7) == s);
  CHECK(sample_rows(50, 1000, 256, 8) != s);
  // More groups than the budget: still first and last row of each group.
  auto many = sample_rows(1000, 10, 256, 3);
  CHECK(many.size() == 2000);
}

namespace {
// A softmax case whose output is the exact reference, written in the output dtype.
std::vector<HostTensor> solved_softmax(Problem& p) {
  auto t = make_host_tensors(p);
  std::vector<double> y(static_cast<std::size_t>(p.cols));
  for (std::int64_t r = 0; r < p.rows; ++r) {
    softmax_reference_row(p, r, t[0].values.data() + r * p.cols,
                          t[2].spec.count ? t[2].as<std::uint8_t>() + r * p.cols : nullptr,
                          t[3].spec.count ? t[3].as<std::int32_t>()[r] : 0, y.data());
    for (std::int64_t c = 0; c < p.cols; ++c)
      store_float(t[1].bytes.data(), t[1].spec.type, static_cast<std::size_t>(r * p.cols + c), static_cast<float>(y[c]));
  }
  return t;
}
}  // namespace

TEST_CASE("a correct output passes, a wrong or unwritten one fails", "[validate]") {
  for (DType dt : {DType::fp32, DType::fp16, DType::bf16}) {
    Problem p;
    p.op = OpKind::softmax;
    p.dtype = dt;
    p.rows = 40;
    p.cols = 33;
    p.mask = MaskKind::tensor;
    p.dropout = 0.1;
    p.seed = 3;
    auto t = solved_softmax(p);
    ValidationSettings vs;
    Validation ok = validate_outputs(p, t, vs);
    INFO(to_string(dt) << " " << ok.reason);
    CHECK(ok.passed);
    CHECK(ok.rows_checked == 40);

    auto wrong = t;  // one element off by a lot
    store_float(wrong[1].bytes.data(), wrong[1].spec.type, 5, load_float(wrong[1].bytes.data(), wrong[1].spec.type, 5) + 0.5f);
    Validation bad = validate_outputs(p, wrong, vs);
    CHECK_FALSE(bad.passed);
    CHECK(bad.max_abs >= 0.4);

    auto unwritten = t;  // one element left with its NaN poison
    std::memset(unwritten[1].bytes.data() + 7 * elem_size(unwritten[1].spec.type), 0xFF, elem_size(unwritten[1].spec.type));
    Validation nan = validate_outputs(p, unwritten, vs);
    CHECK_FALSE(nan.passed);
    CHECK(nan.reason.find("1 of 1320 y elements are NaN") != std::string::npos);
  }
}

TEST_CASE("attention lse is validated, -inf rows included", "[validate]") {
  Problem p;
  p.op = OpKind::attention;
  p.batch = 1;
  p.heads = 2;
  p.kv_heads = 1;
  p.seq_q = 5;
  p.seq_k = 3;
  p.head_dim = 4;
  p.causal = true;  // rows 0 and 1 see no key
  p.seed = 9;
  auto t = make_host_tensors(p);
  for (std::int64_t row = 0; row < 10; ++row) {
    std::vector<double> o(4);
    double lse = 0;
    attention_reference_row(p, t[0].values.data(), t[1].values.data(), t[2].values.data(), 0, row / 5, row % 5,
                            o.data(), &lse);
    for (int c = 0; c < 4; ++c) store_float(t[3].bytes.data(), ElemType::f32, row * 4 + c, static_cast<float>(o[c]));
    reinterpret_cast<float*>(t[4].bytes.data())[row] = static_cast<float>(lse);
  }
  ValidationSettings vs;
  CHECK(validate_outputs(p, t, vs).passed);
  auto finite = t;
  reinterpret_cast<float*>(finite[4].bytes.data())[0] = 0.0f;  // should be -inf
  CHECK_FALSE(validate_outputs(p, finite, vs).passed);
  auto off = t;
  reinterpret_cast<float*>(off[4].bytes.data())[4] += 1.0f;
  Validation v = validate_outputs(p, off, vs);
  CHECK_FALSE(v.passed);
  CHECK(v.reason.rfind("lse rel_l2", 0) == 0);
}

TEST_CASE("inputs are seeded, never zero, and rounded to the storage type", "[validate]") {
  Problem p;
  p.op = OpKind::attention;
  p.dtype = DType::bf16;
  p.batch = 1;
  p.heads = 1;
  p.kv_heads = 1;
  p.seq_q = 300;
  p.seq_k = 300;
  p.head_dim = 64;
  p.seed = 1;
  auto a = make_host_tensors(p), b = make_host_tensors(p);
  CHECK(a[0].bytes == b[0].bytes);
  CHECK(a[0].bytes != a[1].bytes);  // Q and K differ
  std::size_t zeros = 0;
  double sum2 = 0;
  for (float v : a[0].values) {
    zeros += v == 0.0f;
    sum2 += v * v;
    CHECK(v == bf16_bits_to_float(float_to_bf16_bits(v)));
  }
  CHECK(zeros < 10);
  CHECK(sum2 / a[0].values.size() == Approx(1.0).margin(0.1));  // N(0, 1)
  p.seed = 2;
  CHECK(make_host_tensors(p)[0].bytes != a[0].bytes);
}

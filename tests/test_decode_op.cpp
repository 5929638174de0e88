// The decode and kv_append ops (src/ops/decode.cpp, kv_append.cpp): config axes and their errors
// by JSON path, keys and labels, tensors of both cache layouts, FLOP and byte models against hand
// sums, validation that passes the reference and catches wrong outputs, and result rows.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <numeric>

#include "config/expand.hpp"
#include "helpers.hpp"
#include "kernels/decode/decode_plan_rules.h"
#include "ops/kv_cache_axes.hpp"
#include "ops/registry.hpp"
#include "reference/decode_reference.hpp"
#include "report/console.hpp"
#include "report/rows.hpp"
#include "run/host_tensors.hpp"

using namespace fabench;

namespace {

using test::expand;
std::string error_of(const std::string& text) { return test::expand_error(text); }

std::string decode_exp(const std::string& axes) {
  return R"({"experiments": [{"op": "decode", "variants": ["decode.simple"], )" + axes + "}]}";
}
std::string append_exp(const std::string& axes) {
  return R"({"experiments": [{"op": "kv_append", "variants": ["kv_append.simple"], )" + axes + "}]}";
}

Problem decode_problem(DType t, std::int64_t b, std::int64_t h, std::int64_t kv, std::int64_t q_len,
                       std::int64_t cache_len, std::int64_t max_len, SeqLengths lengths, std::int64_t page_size,
                       std::int64_t d, std::uint64_t seed = 11) {
  Problem p;
  p.op = OpKind::decode;
  p.dtype = t;
  p.batch = b;
  p.heads = h;
  p.kv_heads = kv;
  p.seq_q = q_len;
  p.seq_k = cache_len;
  p.max_len = max_len;
  p.lengths = lengths;
  p.page_size = page_size;
  p.head_dim = d;
  p.seed = seed;
  return p;
}

Problem append_problem(DType t, std::int64_t b, std::int64_t kv, std::int64_t q_len, std::int64_t cache_len,
                       std::int64_t max_len, SeqLengths lengths, std::int64_t page_size, std::int64_t d) {
  Problem p = decode_problem(t, b, kv, kv, q_len, cache_len, max_len, lengths, page_size, d);
  p.op = OpKind::kv_append;
  return p;
}

// Runs the CPU reference for every query row into the outputs, as a correct kernel would write them.
// The caches are decoded to float here (the harness keeps them as stored).
void write_reference(const Problem& p, std::vector<HostTensor>& t) {
  HostTensor k = t[decode_tensors::k_cache], v = t[decode_tensors::v_cache];
  k.decode();
  v.decode();
  const DecodeView view{t[decode_tensors::q].values.data(),
                        k.values.data(),
                        v.values.data(),
                        t[decode_tensors::lengths].as<std::int32_t>(),
                        p.page_size ? t[decode_tensors::page_table].as<std::int32_t>() : nullptr,
                        kv_cache_shape(p),
                        p.heads,
                        p.seq_q,
                        p.effective_scale()};
  std::vector<double> o(static_cast<std::size_t>(p.head_dim));
  HostTensor& out = t[decode_tensors::o];
  auto* lse = t[decode_tensors::lse].as_mutable<float>();
  for (std::int64_t b = 0; b < p.batch; ++b)
    for (std::int64_t h = 0; h < p.heads; ++h)
      for (std::int64_t i = 0; i < p.seq_q; ++i) {
        double row_lse = 0;
        decode_reference_row(view, b, h, i, o.data(), &row_lse);
        const std::int64_t row = (b * p.heads + h) * p.seq_q + i;
        for (std::int64_t c = 0; c < p.head_dim; ++c)
          store_float(out.bytes.data(), out.spec.type, static_cast<std::size_t>(row * p.head_dim + c),
                      static_cast<float>(o[c]));
        lse[row] = static_cast<float>(row_lse);
      }
}

// Poisons the caches (0xFF bytes, as the harness does) and writes the new tokens where
// kv_append_reference puts them.
void write_append_reference(const Problem& p, std::vector<HostTensor>& t) {
  const KvCacheShape shape = kv_cache_shape(p);
  const auto n = static_cast<std::size_t>(shape.elements());
  std::vector<float> k(n, NAN), v(n, NAN);
  kv_append_reference(shape, t[kv_append_tensors::lengths].as<std::int32_t>(),
                      p.page_size ? t[kv_append_tensors::page_table].as<std::int32_t>() : nullptr, p.seq_q,
                      t[kv_append_tensors::k_new].values.data(), t[kv_append_tensors::v_new].values.data(), k.data(),
                      v.data());
  for (auto [index, values] : {std::pair{kv_append_tensors::k_cache, &k}, std::pair{kv_append_tensors::v_cache, &v}}) {
    HostTensor& cache = t[index];
    std::memset(cache.bytes.data(), 0xFF, cache.bytes.size());
    for (std::size_t e = 0; e < n; ++e)
      if (!std::isnan((*values)[e])) store_float(cache.bytes.data(), cache.spec.type, e, (*values)[e]);
  }
}

ValidationSettings all_rows() {
  ValidationSettings s;
  s.max_rows = 1 << 20;
  return s;
}

}  // namespace

TEST_CASE("decode and kv_append: bad input is a config error naming its JSON path", "[decode][config]") {
  CHECK(error_of(decode_exp(R"("heads": 8, "cache_len": [0], "head_dim": 64)")) ==
        "experiments[0].cache_len[0]: 0 is not a positive integer");
  CHECK(error_of(decode_exp(R"("heads": 8, "q_len": [1, 17], "cache_len": 64, "head_dim": 64)")) ==
        "experiments[0].q_len[1]: 17 is above 16, the most new tokens per sequence a decode step takes");
  CHECK(error_of(decode_exp(R"("heads": 8, "cache_len": 64, "page_size": [16, 32], "head_dim": 64)")) ==
        "experiments[0].page_size[1]: page size 32 is not compiled (compiled: 16, 64, 256; 0 for a contiguous cache)");
  CHECK(error_of(decode_exp(R"("heads": 8, "cache_len": 64, "page_size": "64", "head_dim": 64)")) ==
        R"(experiments[0].page_size: expected 0 (a contiguous cache) or a page size (16, 64, 256), got "64")");
  CHECK(error_of(decode_exp(R"("heads": 8, "kv_heads": [2, 3], "cache_len": 64, "head_dim": 64)")) ==
        "experiments[0]: heads 8 is not a multiple of kv_heads 3");
  CHECK(error_of(decode_exp(R"("heads": 8, "cache_len": 5000, "max_len": 4096, "head_dim": 64)")) ==
        "experiments[0]: cache_len 5000 is above max_len 4096");
  CHECK(error_of(decode_exp(R"("heads": 8, "q_len": 5, "cache_len": 3, "head_dim": 64)")) ==
        "experiments[0]: q_len 5 is above cache_len 3 (the cache holds the new tokens too)");
  CHECK(error_of(decode_exp(R"("heads": 8, "cache_len": 64, "lengths": "random", "head_dim": 64)")) ==
        R"(experiments[0].lengths: "random" is not one of equal, mixed)");
  CHECK(error_of(decode_exp(R"("heads": 8, "head_dim": 64)")) == "experiments[0]: missing \"cache_len\"");
  CHECK(error_of(decode_exp(R"("cache_len": 8)")) == "experiments[0]: missing \"head_dim\"");
  CHECK(error_of(decode_exp(R"("cache_len": 8, "head_dim": 64, "seq_len": 8)"))
            .rfind("experiments[0].seq_len: unknown key (expected one of: name, op, variants, zip, timing, validation, "
                   "description, dtype, batch, heads, kv_heads, q_len, cache_len, max_len, lengths, page_size, "
                   "head_dim, scale)",
                   0) == 0);
  // kv_append shares the cache axes and their checks, and has no query heads or scale.
  CHECK(error_of(append_exp(R"("q_len": 17, "cache_len": 64, "head_dim": 64)")) ==
        "experiments[0].q_len: 17 is above 16, the most new tokens per sequence a decode step takes");
  CHECK(error_of(append_exp(R"("cache_len": 9, "max_len": 8, "head_dim": 64)")) ==
        "experiments[0]: cache_len 9 is above max_len 8");
  CHECK(error_of(append_exp(R"("cache_len": 64, "page_size": 100, "head_dim": 64)")) ==
        "experiments[0].page_size: page size 100 is not compiled (compiled: 16, 64, 256; 0 for a contiguous cache)");
  CHECK(error_of(append_exp(R"("heads": 4, "cache_len": 64, "head_dim": 64)")).rfind("experiments[0].heads: unknown key", 0) ==
        0);
  // A variant parameter that lists 0 takes it (splits 0: chosen by the planner); others start at 1.
  CHECK(error_of(R"({"experiments": [{"op": "decode", "variants": [{"name": "decode.split_kv", "params": {"splits": [0, 4]}}],
                     "heads": 8, "cache_len": 64, "head_dim": 64}]})") == "(no error)");
  CHECK(error_of(R"({"experiments": [{"op": "decode", "variants": [{"name": "decode.split_kv", "params": {"version": [0]}}],
                     "heads": 8, "cache_len": 64, "head_dim": 64}]})") ==
        "experiments[0].variants[0].params.version[0]: 0 is below the minimum 1");
}

TEST_CASE("decode and kv_append: defaults, keys and labels", "[decode]") {
  auto cases = expand(decode_exp(R"("dtype": "bf16", "batch": 16, "heads": 32, "kv_heads": [8, 32], "cache_len": 8192,
                                    "head_dim": 128)"));
  REQUIRE(cases.size() == 2);
  const Problem& p = cases[0].c.problem;
  CHECK(p.seq_q == 1);
  CHECK(p.max_len == 8192);
  CHECK(p.lengths == SeqLengths::equal);
  CHECK(p.page_size == 0);
  CHECK(p.key() == "decode/bf16/b16/h32/kv8/q1/c8192/max8192/equal/page0/d128/scaledefault");
  CHECK(p.shape_label() == "bf16 b16 h32/8 q1 c8192 d128");
  CHECK(p.effective_scale() == Approx(1.0 / std::sqrt(128.0)));
  CHECK(cases[1].c.problem.shape_label() == "bf16 b16 h32 q1 c8192 d128");

  auto paged = expand(decode_exp(R"("heads": 8, "kv_heads": 2, "q_len": 5, "cache_len": 1000, "max_len": 4096,
                                    "lengths": "mixed", "page_size": 64, "head_dim": 64, "scale": 0.5)"));
  const Problem& q = paged[0].c.problem;
  CHECK(q.key() == "decode/fp32/b1/h8/kv2/q5/c1000/max4096/mixed/page64/d64/scale0.5");
  CHECK(q.shape_label() == "fp32 b1 h8/2 q5 c1000 max4096 d64 page64 mixed");

  auto append = expand(append_exp(R"("dtype": "fp16", "batch": 4, "kv_heads": 8, "cache_len": 100, "lengths": "mixed",
                                     "page_size": 16, "head_dim": 128)"));
  const Problem& a = append[0].c.problem;
  CHECK(a.key() == "kv_append/fp16/b4/kv8/q1/c100/max100/mixed/page16/d128");
  CHECK(a.shape_label() == "fp16 b4 kv8 q1 c100 d128 page16 mixed");
}

TEST_CASE("decode tensors: contiguous and paged caches, lengths and page table from the problem's seed", "[decode]") {
  const Problem contiguous = decode_problem(DType::bf16, 2, 8, 2, 3, 90, 100, SeqLengths::mixed, 0, 64);
  auto specs = op_tensors(contiguous);
  REQUIRE(specs.size() == decode_tensors::count);
  CHECK(specs[decode_tensors::q].count == 2 * 8 * 3 * 64);
  CHECK(specs[decode_tensors::k_cache].count == 2 * 2 * 100 * 64);
  CHECK(specs[decode_tensors::v_cache].count == 2 * 2 * 100 * 64);
  CHECK(specs[decode_tensors::lengths].count == 2);
  CHECK(specs[decode_tensors::lengths].type == ElemType::i32);
  CHECK(specs[decode_tensors::page_table].count == 0);
  CHECK(specs[decode_tensors::o].count == 2 * 8 * 3 * 64);
  CHECK(specs[decode_tensors::o].output);
  CHECK(specs[decode_tensors::lse].count == 2 * 8 * 3);
  CHECK(specs[decode_tensors::lse].type == ElemType::f32);

  Problem paged = contiguous;
  paged.page_size = 16;  // 100 tokens: 7 pages per sequence, the last one 12 rows short
  specs = op_tensors(paged);
  CHECK(specs[decode_tensors::k_cache].count == 14 * 2 * 16 * 64);
  CHECK(specs[decode_tensors::page_table].count == 14);

  const auto host = make_host_tensors(paged);
  const auto* lengths = host[decode_tensors::lengths].as<std::int32_t>();
  const auto expected_lengths = make_sequence_lengths(true, 2, 3, 90, paged.seed);
  CHECK(std::vector<std::int32_t>(lengths, lengths + 2) == expected_lengths);
  CHECK(*std::max_element(lengths, lengths + 2) == 90);
  CHECK(*std::min_element(lengths, lengths + 2) < 90);  // mixed: not secretly equal
  const auto* table = host[decode_tensors::page_table].as<std::int32_t>();
  CHECK(std::vector<std::int32_t>(table, table + 14) == make_page_table(kv_cache_shape(paged), paged.seed));
  CHECK(host[decode_tensors::k_cache].values.empty());  // the caches stay as stored: not held twice
  CHECK(host[decode_tensors::q].values.size() == 2 * 8 * 3 * 64);

  const Problem append = append_problem(DType::fp32, 3, 4, 2, 50, 64, SeqLengths::equal, 64, 8);
  specs = op_tensors(append);
  REQUIRE(specs.size() == kv_append_tensors::count);
  CHECK(specs[kv_append_tensors::k_new].count == 3 * 4 * 2 * 8);
  CHECK_FALSE(specs[kv_append_tensors::k_new].output);
  CHECK(specs[kv_append_tensors::page_table].count == 3);
  CHECK(specs[kv_append_tensors::k_cache].count == 3 * 4 * 64 * 8);
  CHECK(specs[kv_append_tensors::k_cache].output);
  CHECK(specs[kv_append_tensors::v_cache].output);
}

TEST_CASE("decode FLOP and byte models count the visible tokens and the cache actually read", "[decode][models]") {
  // batch 3, q_len 2, mixed lengths: query i of sequence b sees L_b - 2 + i + 1 tokens, 2 L_b - 1 for both.
  const Problem p = decode_problem(DType::bf16, 3, 4, 2, 2, 40, 64, SeqLengths::mixed, 16, 32);
  const auto lengths = make_sequence_lengths(true, 3, 2, 40, p.seed);
  double pairs = 0, tokens = 0;
  for (std::int32_t l : lengths) {
    pairs += (l - 1) + l;
    tokens += l;
  }
  CHECK(tokens < 3 * 40);  // mixed
  CHECK(model_flops(p) == Approx(4.0 * 4 * 32 * pairs));
  const double kv = 2.0 * 2 * 32 * 2 * tokens;  // K and V, kv_heads 2, d 32, 2 bytes, current lengths
  const double q_and_o = 2.0 * (3 * 4 * 2 * 32) * 2;
  const double lse = 4.0 * 3 * 4 * 2;
  const double index = 4.0 * 3 + 4.0 * 3 * 4;  // lengths, and 4 pages of 16 per sequence
  CHECK(model_bytes(p) == Approx(kv + q_and_o + lse + index));

  Problem equal = p;
  equal.lengths = SeqLengths::equal;
  equal.page_size = 0;
  CHECK(model_flops(equal) == Approx(4.0 * 4 * 32 * 3 * (39 + 40)));
  CHECK(model_bytes(equal) == Approx(2.0 * 2 * 32 * 2 * 120 + q_and_o + lse + 4.0 * 3));

  const Problem append = append_problem(DType::fp16, 3, 2, 2, 40, 64, SeqLengths::mixed, 16, 32);
  CHECK(model_flops(append) == 0);
  CHECK(model_bytes(append) == Approx(4.0 * (3 * 2 * 2 * 32) * 2 + 4.0 * 3 + 4.0 * 12));
}

TEST_CASE("decode validation passes the reference and catches a wrong output or lse", "[decode][validate]") {
  for (std::int64_t page : {0, 16}) {
    for (DType t : {DType::fp32, DType::bf16}) {
      const Problem p = decode_problem(t, 3, 4, 2, 2, 37, 48, SeqLengths::mixed, page, 64);
      INFO(p.key());
      auto host = make_host_tensors(p);
      write_reference(p, host);
      Validation v = op_spec(p.op).validate(p, host, all_rows());
      CHECK(v.passed);
      CHECK(v.rows_checked == 3 * 4 * 2);
      CHECK(v.rel_l2 < (t == DType::fp32 ? 1e-6 : 5e-3));
    }
  }
  const Problem p = decode_problem(DType::fp32, 3, 4, 2, 2, 37, 48, SeqLengths::mixed, 16, 64);
  const auto reference = [&] {
    auto host = make_host_tensors(p);
    write_reference(p, host);
    return host;
  }();
  {  // a wrong output row
    auto host = reference;
    HostTensor& o = host[decode_tensors::o];
    const std::size_t row = 9;  // batch 1, head 0, query 1
    for (std::size_t c = 0; c < 64; ++c)
      store_float(o.bytes.data(), o.spec.type, row * 64 + c, 2.0f * load_float(o.bytes.data(), o.spec.type, row * 64 + c));
    Validation v = op_spec(p.op).validate(p, host, all_rows());
    CHECK_FALSE(v.passed);
    CHECK(v.reason.rfind("o rel_l2", 0) == 0);
  }
  {  // a wrong lse
    auto host = reference;
    host[decode_tensors::lse].as_mutable<float>()[17] += 0.5f;
    Validation v = op_spec(p.op).validate(p, host, all_rows());
    CHECK_FALSE(v.passed);
    CHECK(v.reason.rfind("lse rel_l2", 0) == 0);
  }
  {  // an unwritten lse
    auto host = reference;
    host[decode_tensors::lse].as_mutable<float>()[23] = NAN;
    Validation v = op_spec(p.op).validate(p, host, all_rows());
    CHECK_FALSE(v.passed);
    CHECK(v.reason.rfind("lse wrong in 1 of 24", 0) == 0);
  }
  {  // outputs computed as a kernel that ignores the page table would (pages in pool order)
    auto host = reference;
    auto* table = host[decode_tensors::page_table].as_mutable<std::int32_t>();
    const std::vector<std::int32_t> real(table, table + kv_cache_shape(p).num_pages());
    std::iota(table, table + real.size(), 0);
    write_reference(p, host);
    std::copy(real.begin(), real.end(), table);
    CHECK_FALSE(op_spec(p.op).validate(p, host, all_rows()).passed);
  }
}

TEST_CASE("kv_append validation passes the reference and catches missing, stray and wrong writes", "[decode][validate]") {
  for (std::int64_t page : {0, 16, 64}) {
    for (DType t : {DType::fp32, DType::bf16}) {
      const Problem p = append_problem(t, 3, 2, 3, 30, 40, SeqLengths::mixed, page, 16);
      INFO(p.key());
      auto host = make_host_tensors(p);
      write_append_reference(p, host);
      Validation v = op_spec(p.op).validate(p, host, all_rows());
      CHECK(v.passed);
      CHECK(v.rel_l2 == 0);
      CHECK(v.rows_checked == 2 * 3 * 2 * 3);

      const KvCacheShape shape = kv_cache_shape(p);
      const auto* lengths = host[kv_append_tensors::lengths].as<std::int32_t>();
      const std::int32_t* table = page ? host[kv_append_tensors::page_table].as<std::int32_t>() : nullptr;
      const std::size_t es = elem_size(storage_type(t));
      // Sequence 1, kv head 1: its first new token, and the slot just past its new tokens (free:
      // lengths <= cache_len < max_len).
      const std::int64_t slot = kv_offset(shape, table, 1, 1, lengths[1] - p.seq_q);
      const std::int64_t past = kv_offset(shape, table, 1, 1, lengths[1]);
      {
        auto bad_host = host;  // a missing write
        std::memset(bad_host[kv_append_tensors::v_cache].bytes.data() + (slot + 3) * es, 0xFF, es);
        Validation bad = op_spec(p.op).validate(p, bad_host, all_rows());
        CHECK_FALSE(bad.passed);
        CHECK(bad.reason == "v_cache: 1 of 18 new token rows not written (poison left)");
      }
      {
        auto bad_host = host;  // a stray write
        store_float(bad_host[kv_append_tensors::k_cache].bytes.data(), storage_type(t), static_cast<std::size_t>(past),
                    0.0f);
        Validation bad = op_spec(p.op).validate(p, bad_host, all_rows());
        CHECK_FALSE(bad.passed);
        CHECK(bad.reason == "k_cache: 1 elements outside the new tokens' slots were written");
      }
      {
        auto bad_host = host;  // a write into the cache's last element (past max_len, or the pool's tail)
        HostTensor& k = bad_host[kv_append_tensors::k_cache];
        store_float(k.bytes.data(), storage_type(t), k.spec.count - 1, 1.0f);
        CHECK_FALSE(op_spec(p.op).validate(p, bad_host, all_rows()).passed);
      }
      {
        auto bad_host = host;  // a wrong value
        HostTensor& k = bad_host[kv_append_tensors::k_cache];
        store_float(k.bytes.data(), storage_type(t), static_cast<std::size_t>(slot),
                    load_float(k.bytes.data(), storage_type(t), static_cast<std::size_t>(slot)) + 1.0f);
        Validation bad = op_spec(p.op).validate(p, bad_host, all_rows());
        CHECK_FALSE(bad.passed);
        CHECK(bad.reason == "k_cache: 1 of 18 new token rows differ from k_new (a copy must be exact)");
      }
    }
  }
}

TEST_CASE("decode result rows: extra columns, shape text and pivot", "[decode][report]") {
  Result r;
  r.c.problem = decode_problem(DType::bf16, 16, 32, 8, 1, 8192, 8192, SeqLengths::mixed, 64, 128);
  r.c.variant = "decode.paged";
  r.c.experiment = "e";
  r.status = Status::ok;
  TimingStats t;
  t.median_ms = t.mean_ms = t.min_ms = 0.5;
  t.samples = 10;
  r.timing = t;
  const TextRow row = to_text_row(r);
  CHECK(row.at("op") == "decode");
  CHECK(row.at("seq_q") == "1");
  CHECK(row.at("seq_k") == "8192");
  CHECK(row.at("max_len") == "8192");
  CHECK(row.at("lengths") == "mixed");
  CHECK(row.at("page_size") == "64");
  CHECK(row.at("causal").empty());
  CHECK(progress_line(1, 2, row, 1).find("decode.paged bf16 b16 h32/8 q1 c8192 d128 page64 mixed ok") !=
        std::string::npos);
  CHECK(progress_line(1, 2, row, 1).find("GB/s") != std::string::npos);  // memory-bound

  Result wider = r;
  wider.c.problem.batch = 64;
  Result longer = r;
  longer.c.problem.seq_k = longer.c.problem.max_len = 16384;
  const std::string md = markdown_pivot({row, to_text_row(wider), to_text_row(longer)});
  CHECK(md.find("### decode.paged bf16 h32/8 q1 d128 page64 mixed (time_ms_median)") != std::string::npos);
  CHECK(md.find("| cache_len \\ batch | 16 | 64 |") != std::string::npos);
  CHECK(md.find("| 8192 | 0.5000 | 0.5000 |") != std::string::npos);
  CHECK(md.find("| 16384 | 0.5000 |  |") != std::string::npos);

  Result append;
  append.c.problem = append_problem(DType::fp32, 2, 4, 1, 100, 200, SeqLengths::equal, 0, 64);
  append.c.variant = "kv_append.simple";
  const TextRow arow = to_text_row(append);
  CHECK(arow.at("heads").empty());
  CHECK(arow.at("max_len") == "200");
  CHECK(markdown_pivot({arow}).find("| 100 (max 200) |") != std::string::npos);
  CHECK(progress_line(1, 1, arow, 0).find("kv_append.simple fp32 b2 kv4 q1 c100 max200 d64") != std::string::npos);
}

TEST_CASE("configs/decode.json expands with every host input under 10 GB", "[decode][config]") {
  const Plan plan = load_plan_file(std::string(FABENCH_SOURCE_DIR) + "/configs/decode.json", test::registry());
  const auto cases = expand_plan(plan, test::registry());
  CHECK(cases.size() > 100);
  double largest = 0;
  for (const ExpandedCase& c : cases) {
    double bytes = 0;
    for (const TensorSpec& t : op_tensors(c.c.problem)) bytes += static_cast<double>(t.count * elem_size(t.type));
    largest = std::max(largest, bytes);
  }
  // Sized for one lease: inputs are generated on the host, so the largest case bounds the time.
  CHECK(largest < 10e9);
  CHECK(largest > 8e9);  // batch 16 x 128k x 8 KV heads and batch 64 x 32k: 8.6 GB of K and V
}

TEST_CASE("the split planner's rule for unequal lengths: about four waves of work, whole tiles", "[decode]") {
  // Equal lengths (or none given, or one sequence) keep the wave-filling rule.
  CHECK_FALSE(lengths_unequal(16, 8192, 16 * 8192));
  CHECK_FALSE(lengths_unequal(16, 8192, 0));
  CHECK_FALSE(lengths_unequal(1, 8192, 100));
  CHECK_FALSE(lengths_unequal(10, 8192, 73728));  // exactly 90%
  CHECK(lengths_unequal(10, 8192, 73727));
  // Batch 16 x 8 KV heads, 70,000 tokens in all, waves of 132 blocks, tiles of 64: 8 x 70,000 rows
  // over 4 x 132 blocks is 1,061 each, 17 tiles.
  CHECK(unequal_split_tokens(8 * 70000, 132, 64, 8192) == 17 * 64);
  // Never below a tile, never above the longest rounded up to a tile.
  CHECK(unequal_split_tokens(10, 132, 64, 8192) == 64);
  CHECK(unequal_split_tokens(std::int64_t{1} << 40, 132, 64, 1000) == 1024);
  // The mixed lengths of a problem add up to less than batch x cache_len: the planner's input.
  Problem p;
  p.op = OpKind::decode;
  p.batch = 16;
  p.seq_q = 1;
  p.seq_k = 8192;
  p.lengths = SeqLengths::mixed;
  p.seed = 20261121;
  std::int64_t total = 0;
  for (std::int32_t length : problem_sequence_lengths(p)) total += length;
  CHECK(total < 16 * 8192);
  CHECK(lengths_unequal(16, 8192, total));
}

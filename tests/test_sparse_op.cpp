// Op sparse_attention (src/ops/sparse_attention.cpp): config axes and their errors by JSON path
// (bad mask files too), keys and columns, tensors (the block layout), FLOP model on kept scores,
// the masked reference against attention's, validation, and sparse.cpu_reference end to end
// through the sweep.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>

#include "app/sweep.hpp"
#include "config/expand.hpp"
#include "helpers.hpp"
#include "kernels/attention/attention.h"
#include "ops/registry.hpp"
#include "ops/sparse_attention.hpp"
#include "reference/attention_reference.hpp"
#include "report/csv.hpp"
#include "report/rows.hpp"
#include "run/host_tensors.hpp"

using namespace fabench;

namespace {

using test::expand;
std::string error_of(const std::string& text) { return test::expand_error(text); }

std::string exp(const std::string& axes) {
  return R"({"experiments": [{"op": "sparse_attention", "variants": ["sparse.cpu_reference"], "seq_len": 256, "head_dim": 16, )" +
         axes + "}]}";
}

Problem sparse(SparsePattern pattern, DType t = DType::fp32, std::int64_t sq = 200, std::int64_t sk = 200) {
  Problem p = test::attention(2, 4, 2, sq, sk, 32, false, t, 9);
  p.op = OpKind::sparse_attention;
  p.pattern = pattern;
  p.block = 64;
  return p;
}

ValidationSettings all_rows() {
  ValidationSettings s;
  s.max_rows = 1 << 20;
  return s;
}

// Runs sparse.cpu_reference's launch on host tensors, as the harness does for a CPU variant.
std::vector<HostTensor> run_cpu_reference(const Problem& p) {
  auto host = make_host_tensors(p);
  std::vector<void*> ptrs;
  for (auto& t : host) ptrs.push_back(t.data());
  const Params params;
  test::registry().find("sparse.cpu_reference")->launch(LaunchArgs{p, params, ptrs});
  return host;
}

// The pre-mask attention_reference_row, verbatim: the refactored one must give the same bits.
void old_attention_row(const Problem& p, const float* q, const float* k, const float* v, std::int64_t b, std::int64_t h,
                       std::int64_t i, double* o_row, double* lse) {
  const std::int64_t d = p.head_dim;
  const std::int64_t kv_head = h / (p.heads / p.kv_heads);
  const float* q_row = q + ((b * p.heads + h) * p.seq_q + i) * d;
  const float* k_head = k + (b * p.kv_heads + kv_head) * p.seq_k * d;
  const float* v_head = v + (b * p.kv_heads + kv_head) * p.seq_k * d;
  const std::int64_t visible = attention_visible_keys(p, i);
  for (std::int64_t c = 0; c < d; ++c) o_row[c] = 0.0;
  if (visible == 0) {
    *lse = -std::numeric_limits<double>::infinity();
    return;
  }
  const double scale = p.effective_scale();
  std::vector<double> scores(static_cast<std::size_t>(visible));
  double row_max = -std::numeric_limits<double>::infinity();
  for (std::int64_t j = 0; j < visible; ++j) {
    double dot = 0.0;
    for (std::int64_t c = 0; c < d; ++c) dot += static_cast<double>(q_row[c]) * k_head[j * d + c];
    scores[j] = scale * dot;
    row_max = std::max(row_max, scores[j]);
  }
  double sum = 0.0;
  for (std::int64_t j = 0; j < visible; ++j) {
    double w = std::exp(scores[j] - row_max);
    sum += w;
    for (std::int64_t c = 0; c < d; ++c) o_row[c] += w * v_head[j * d + c];
  }
  for (std::int64_t c = 0; c < d; ++c) o_row[c] /= sum;
  *lse = row_max + std::log(sum);
}

}  // namespace

TEST_CASE("sparse_attention: bad input is a config error naming its JSON path", "[sparse][config]") {
  CHECK(error_of(exp(R"("pattern": "random", "density": [0.5, 0])")) ==
        "experiments[0].density[1]: expected a fraction of blocks kept in (0, 1], got 0");
  CHECK(error_of(exp(R"("pattern": "random", "density": 1.5)")) ==
        "experiments[0].density: expected a fraction of blocks kept in (0, 1], got 1.5");
  CHECK(error_of(exp(R"("pattern": "window", "window": 0)")) == "experiments[0].window: 0 is not a positive integer");
  CHECK(error_of(exp(R"("pattern": "spiral")")) ==
        R"(experiments[0].pattern: "spiral" is not one of random, window, causal, causal_window, documents, global_window, file)");
  CHECK(error_of(exp(R"("pattern": "causal", "block": 32)")) ==
        "experiments[0].block: expected 64 or 128 (query rows x key columns of a mask block), got 32");
  CHECK(error_of(exp(R"("pattern": "window", "window": 64, "density": 0.5)")) ==
        "experiments[0]: \"density\" is a parameter of pattern random, not of window (give each pattern its own experiment)");
  CHECK(error_of(exp(R"("pattern": ["random", "causal"], "density": 0.5)")) ==
        "experiments[0]: \"density\" is a parameter of pattern random, not of causal (give each pattern its own experiment)");
  CHECK(error_of(exp(R"("pattern": "causal", "mask_per_head": true)")) ==
        "experiments[0]: \"mask_per_head\" is a parameter of pattern random, documents, file, not of causal (give each "
        "pattern its own experiment)");
  CHECK(error_of(exp(R"("pattern": "random")")) == "experiments[0]: pattern random needs \"density\"");
  CHECK(error_of(exp(R"("pattern": "global_window", "window": 8)")) ==
        "experiments[0]: pattern global_window needs \"global_tokens\"");
  CHECK(error_of(exp(R"("pattern": "global_window", "window": 8, "global_tokens": 300)")) ==
        "experiments[0]: global_tokens 300 is above seq_k 256");
  CHECK(error_of(exp(R"("pattern": "documents", "documents": [100, 156])")) ==
        "experiments[0].documents[0]: expected a list of document lengths or {\"random\": N} (an outer list is a sweep: "
        "write [[1024, 3072]] for one list), got 100");
  CHECK(error_of(exp(R"("pattern": "documents", "documents": [[100, 100]])")) ==
        "experiments[0]: the document lengths sum to 200, not to seq_k 256 (documents pack the keys exactly)");
  CHECK(error_of(exp(R"("pattern": "documents", "documents": [[100, 0, 156]])")) ==
        "experiments[0].documents[0]: document lengths must be positive integers, got 0");
  CHECK(error_of(exp(R"("pattern": "documents", "documents": {"random": 300})")) ==
        "experiments[0]: 300 random documents do not fit seq_k 256 (each holds a token at least)");
  CHECK(error_of(exp(R"("pattern": "documents", "documents": {"count": 3})")) ==
        "experiments[0].documents: expected a list of document lengths or {\"random\": N} (an outer list is a sweep: "
        "write [[1024, 3072]] for one list), got {\"count\":3}");
  CHECK(error_of(exp(R"("pattern": "file")")) == "experiments[0]: pattern file needs \"mask_file\"");
  CHECK(error_of(exp(R"("density": 0.5)")) == "experiments[0]: missing \"pattern\"");
  CHECK(error_of(exp(R"("pattern": "causal", "causal": true)")).rfind("experiments[0].causal: unknown key", 0) == 0);
  CHECK(error_of(exp(R"("pattern": "causal", "heads": 6, "kv_heads": 4)")) ==
        "experiments[0]: heads 6 is not a multiple of kv_heads 4");
  CHECK(error_of(exp(R"("pattern": ["causal"], "kv_heads": 1, "heads": 4)")) == "(no error)");
  CHECK(error_of(exp(R"("pattern": "documents", "documents": [[100, 156], {"random": 4}], "mask_per_head": [false, true])")) ==
        "(no error)");
}

TEST_CASE("sparse_attention: a bad mask file ends the run with exit 2 and names the file", "[sparse][config][npy]") {
  const auto dir = std::filesystem::temp_directory_path() / "fabench-sparse-op";
  std::filesystem::create_directories(dir);
  const std::string bad = (dir / "bad.npy").string(), good = (dir / "good.npy").string();
  std::ofstream(bad, std::ios::binary) << npy_bytes({256, 256}, std::vector<std::uint8_t>(256 * 256, 3));
  std::ofstream(good, std::ios::binary) << npy_bytes({2, 1, 2, 2}, std::vector<std::uint8_t>{1, 0, 1, 1, 0, 0, 1, 1});
  CHECK(error_of(exp(R"("pattern": "file", "mask_file": ")" + bad + "\"")) ==
        "experiments[0]: mask file \"" + bad + "\": value 3 at [0, 0] is not 0 or 1");
  CHECK(error_of(exp(R"("pattern": "file", "mask_file": ")" + good + "\"")).find("wrong size for the shape: (2, 1, 2, 2)") !=
        std::string::npos);
  // Blocks of 128 per (batch 2, head 1): the file decides mask_per_head.
  const auto cases = expand(exp(R"("batch": 2, "pattern": "file", "mask_file": ")" + good + "\""));
  REQUIRE(cases.size() == 1);
  CHECK(cases[0].c.problem.mask_per_head);
  CHECK(cases[0].c.problem.key() == "sparse_attention/fp32/b2/h1/kv1/sq256/sk256/d16/scaledefault/blk128/file-" + good +
                                        "/per_head");
  CHECK(error_of(exp(R"("batch": 2, "pattern": "file", "mask_per_head": false, "mask_file": ")" + good + "\"")) ==
        "experiments[0]: mask_per_head is false but mask file \"" + good + "\" holds one mask per batch and head");

  const std::string config = (dir / "sweep.json").string();
  std::ofstream(config) << R"({"name": "bad-mask", "experiments": [{"op": "sparse_attention", "variants": ["sparse.cpu_reference"],
    "seq_len": 256, "head_dim": 16, "pattern": "file", "mask_file": ")"
                        << bad << "\"}]}";
  SweepOptions o;
  o.config_path = config;
  o.output_dir = (dir / "out").string();
  o.argv = {"fa-bench"};
  o.dry_run = true;
  CHECK(run_sweep(o, test::registry()) == 2);
}

TEST_CASE("sparse_attention: keys, labels, FLOPs on kept scores, bytes with the mask", "[sparse][models]") {
  const auto cases = expand(exp(R"("batch": 2, "heads": 4, "pattern": "random", "density": [1, 0.25], "block": 64)"));
  REQUIRE(cases.size() == 2);
  const Problem& full = cases[0].c.problem;
  CHECK(full.key() == "sparse_attention/fp32/b2/h4/kv4/sq256/sk256/d16/scaledefault/blk64/random-density1/shared");
  CHECK(full.shape_label() == "fp32 b2 h4 s256 d16 random 1 blk64");
  // Density 1: every score, as dense attention counts them.
  Problem dense = full;
  dense.op = OpKind::attention;
  CHECK(model_flops(full) == model_flops(dense));
  CHECK(sparse_mask_of(full)->density() == 1.0);
  const Problem& quarter = cases[1].c.problem;
  CHECK(model_flops(quarter) == 4.0 * 16 * 2 * 4 * (256.0 * 256.0 / 4));
  CHECK(sparse_mask_of(quarter)->density() == 0.25);
  // Bytes: attention's (Q, K, V, O, lse) plus the block layout: 4 block rows of 1 full block each
  // (5 offsets, 4 columns, 4 tiles) and the 4 rows' order.
  const auto layout = sparse_layout_of(quarter);
  CHECK(layout->cols.size() == 4);
  CHECK(model_bytes(quarter) == model_bytes(dense) + 4.0 * (5 + 4 + 4 + 4));

  // Causal: the kept scores are attention's causal ones; partial (diagonal) blocks count their elements.
  Problem causal = sparse(SparsePattern::causal, DType::bf16, 100, 300);
  Problem causal_dense = causal;
  causal_dense.op = OpKind::attention;
  causal_dense.causal = true;
  CHECK(model_flops(causal) == model_flops(causal_dense));
  CHECK(causal.shape_label() == "bf16 b2 h4/2 s100x300 d32 causal blk64");

  Problem window = sparse(SparsePattern::global_window);
  window.window = 32;
  window.global_tokens = 4;
  CHECK(window.key() == "sparse_attention/fp32/b2/h4/kv2/sq200/sk200/d32/scaledefault/blk64/global_window-g4-w32/shared");
  CHECK(window.shape_label() == "fp32 b2 h4/2 s200 d32 global_window g4 w32 blk64");
  Problem docs = sparse(SparsePattern::documents);
  docs.doc_lengths = {50, 150};
  CHECK(docs.key() == "sparse_attention/fp32/b2/h4/kv2/sq200/sk200/d32/scaledefault/blk64/documents-50+150/shared");
  docs.doc_lengths.clear();
  docs.doc_count = 3;
  docs.mask_per_head = true;
  CHECK(docs.key() == "sparse_attention/fp32/b2/h4/kv2/sq200/sk200/d32/scaledefault/blk64/documents-random:3/per_head");
  CHECK(model_flops(docs) == 4.0 * 32 * static_cast<double>(sparse_mask_of(docs)->kept_total()));
}

TEST_CASE("sparse_attention: tensors carry the block layout for the GPU variants", "[sparse][tensors]") {
  Problem p = sparse(SparsePattern::causal_window);
  p.window = 150;
  const auto specs = op_tensors(p);
  REQUIRE(specs.size() == sparse_attention_tensors::count);
  const std::vector<std::string> names = {"q", "k", "v", "o", "lse", "block_offsets", "block_cols", "block_tiles",
                                          "partial_tiles", "block_order"};
  for (std::size_t t = 0; t < names.size(); ++t) CHECK(specs[t].name == names[t]);
  const auto layout = sparse_layout_of(p);
  auto host = make_host_tensors(p);
  namespace T = sparse_attention_tensors;
  REQUIRE(host[T::block_offsets].spec.count == layout->offsets.size());
  CHECK(std::vector<std::int32_t>(host[T::block_offsets].as<std::int32_t>(),
                                  host[T::block_offsets].as<std::int32_t>() + layout->offsets.size()) == layout->offsets);
  CHECK(std::vector<std::int32_t>(host[T::block_cols].as<std::int32_t>(),
                                  host[T::block_cols].as<std::int32_t>() + layout->cols.size()) == layout->cols);
  CHECK(std::vector<std::int32_t>(host[T::block_tiles].as<std::int32_t>(),
                                  host[T::block_tiles].as<std::int32_t>() + layout->tiles.size()) == layout->tiles);
  CHECK(host[T::partial_tiles].bytes == layout->partial);
  REQUIRE(host[T::block_order].spec.count == layout->order.size());
  CHECK(std::vector<std::int32_t>(host[T::block_order].as<std::int32_t>(),
                                  host[T::block_order].as<std::int32_t>() + layout->order.size()) == layout->order);
  CHECK(layout->partial_blocks() > 0);
  CHECK(layout->full_blocks() > 0);
  // Random blocks have no partial tile: a count-0 tensor (nullptr for a kernel).
  Problem r = sparse(SparsePattern::random);
  r.density = 0.5;
  CHECK(op_tensors(r)[T::partial_tiles].count == 0);
}

TEST_CASE("sparse_attention reference: attention's rows unchanged, masked rows equal attention's where they agree", "[sparse][reference]") {
  // attention_reference_row after the refactor gives the bits it gave before, causal or not, GQA, seq_q != seq_k.
  for (bool causal : {false, true})
    for (auto [sq, sk] : {std::pair<std::int64_t, std::int64_t>{33, 33}, {20, 45}, {45, 20}}) {
      const Problem p = test::attention(2, 4, 2, sq, sk, 16, causal, DType::fp32, 3);
      auto host = make_host_tensors(p);
      const float* q = host[0].values.data();
      const float* k = host[1].values.data();
      const float* v = host[2].values.data();
      for (std::int64_t b = 0; b < 2; ++b)
        for (std::int64_t h = 0; h < 4; ++h)
          for (std::int64_t i = 0; i < sq; ++i) {
            std::vector<double> now(16), before(16);
            double lse_now = 0, lse_before = 0;
            attention_reference_row(p, q, k, v, b, h, i, now.data(), &lse_now);
            old_attention_row(p, q, k, v, b, h, i, before.data(), &lse_before);
            REQUIRE(now == before);
            REQUIRE(std::memcmp(&lse_now, &lse_before, sizeof(double)) == 0);
          }
    }
  // The causal pattern's reference is attention's causal reference, to the bit.
  Problem p = sparse(SparsePattern::causal, DType::fp32, 70, 130);
  Problem dense = p;
  dense.op = OpKind::attention;
  dense.causal = true;
  auto host = make_host_tensors(p);
  const auto mask = sparse_mask_of(p);
  std::vector<KeyRange> ranges;
  for (std::int64_t i = 0; i < 70; ++i) {
    mask->row(0, i, ranges);
    std::vector<double> a(32), b(32);
    double la = 0, lb = 0;
    attention_reference_row(p, host[0].values.data(), host[1].values.data(), host[2].values.data(), 1, 3, i,
                            ranges.data(), ranges.size(), a.data(), &la);
    attention_reference_row(dense, host[0].values.data(), host[1].values.data(), host[2].values.data(), 1, 3, i, b.data(),
                            &lb);
    REQUIRE(a == b);
    REQUIRE(la == lb);
  }
}

TEST_CASE("sparse_attention validation passes the CPU reference and catches an unmasked or wrong output", "[sparse][validate]") {
  for (DType t : {DType::fp32, DType::bf16}) {
    for (SparsePattern pattern : {SparsePattern::random, SparsePattern::window, SparsePattern::causal,
                                  SparsePattern::documents, SparsePattern::global_window}) {
      Problem p = sparse(pattern, t);
      p.density = 0.3;
      p.mask_per_head = pattern == SparsePattern::random || pattern == SparsePattern::documents;
      p.window = 40;
      p.global_tokens = 3;
      p.doc_count = 5;
      INFO(p.key());
      auto host = run_cpu_reference(p);
      Validation v = op_spec(p.op).validate(p, host, all_rows());
      CHECK(v.passed);
      CHECK(v.rows_checked == 2 * 4 * 200);
      CHECK(v.rel_l2 < (t == DType::fp32 ? 1e-6 : 5e-3));
    }
  }
  // A kernel that ignores the mask (dense attention's outputs) fails; so does one wrong lse.
  Problem p = sparse(SparsePattern::random);
  p.density = 0.5;
  p.mask_per_head = true;
  auto host = run_cpu_reference(p);
  {
    auto wrong = host;
    wrong[sparse_attention_tensors::lse].as_mutable<float>()[5] += 0.5f;
    CHECK_FALSE(op_spec(p.op).validate(p, wrong, all_rows()).passed);
  }
  Problem dense = p;
  dense.op = OpKind::attention;
  auto dense_host = make_host_tensors(dense);
  std::vector<void*> ptrs;
  for (auto& t : dense_host) ptrs.push_back(t.data());
  const Params none;
  test::registry().find("attn.cpu_reference")->launch(LaunchArgs{dense, none, ptrs});
  auto unmasked = host;
  unmasked[sparse_attention_tensors::o].bytes = dense_host[attention_tensors::o].bytes;
  unmasked[sparse_attention_tensors::lse].bytes = dense_host[attention_tensors::lse].bytes;
  const Validation v = op_spec(p.op).validate(p, unmasked, all_rows());
  CHECK_FALSE(v.passed);
  // Rows with nothing kept: zeros and -inf are right; a finite lse there is caught.
  Problem sparse_rows = sparse(SparsePattern::random);
  sparse_rows.density = 0.1;
  auto out = run_cpu_reference(sparse_rows);
  const float* lse = out[sparse_attention_tensors::lse].as<float>();
  std::int64_t empty = -1;
  for (std::int64_t r = 0; r < 2 * 4 * 200 && empty < 0; ++r)
    if (std::isinf(lse[r])) empty = r;
  REQUIRE(empty >= 0);
  for (std::int64_t c = 0; c < 32; ++c) CHECK(out[sparse_attention_tensors::o].as<float>()[empty * 32 + c] == 0.0f);
  CHECK(op_spec(sparse_rows.op).validate(sparse_rows, out, all_rows()).passed);
  out[sparse_attention_tensors::lse].as_mutable<float>()[empty] = 0.0f;
  CHECK(op_spec(sparse_rows.op).validate(sparse_rows, out, all_rows()).reason.rfind("lse wrong in 1", 0) == 0);
}

TEST_CASE("sparse.cpu_reference runs end to end through the sweep, large cases left to the GPU", "[sparse][sweep]") {
  const auto dir = std::filesystem::temp_directory_path() / "fabench-sparse-sweep";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string config = (dir / "sweep.json").string();
  std::ofstream(config) << R"({"name": "s", "timing": {"min_samples": 2, "min_time_s": 0, "max_time_s": 1},
    "experiments": [
      {"op": "sparse_attention", "variants": ["sparse.cpu_reference"], "dtype": ["fp32", "bf16"], "batch": 2, "heads": 2,
       "seq_len": 150, "head_dim": 16, "block": 64, "pattern": "random", "density": 0.5, "mask_per_head": true},
      {"op": "sparse_attention", "variants": ["sparse.cpu_reference"], "batch": 1, "heads": 2, "seq_len": 150, "head_dim": 16,
       "pattern": "causal_window", "window": 33},
      {"op": "sparse_attention", "variants": ["sparse.cpu_reference"], "batch": 2, "heads": 16, "seq_len": 8192, "head_dim": 128,
       "pattern": "causal"}
    ]})";
  SweepOptions o;
  o.config_path = config;
  o.output_dir = (dir / "out").string();
  o.argv = {"fa-bench"};
  o.device = 99;
  CHECK(run_sweep(o, test::registry()) == 0);
  const CsvTable t = read_csv((dir / "out/s.csv").string());
  for (const char* column : {"pattern", "block", "density_requested", "window", "documents", "global_tokens", "mask_file",
                             "mask_per_head", "density", "mask_build_ms"})
    CHECK(std::find(t.header.begin(), t.header.end(), column) != t.header.end());
  for (const auto& row : t.rows) CHECK(std::stod(row.at("mask_build_ms")) >= 0);
  REQUIRE(t.rows.size() == 4);
  for (std::size_t r = 0; r < 3; ++r) {
    const auto& row = t.rows[r];
    INFO(row.at("key") << " " << row.at("reason"));
    CHECK(row.at("status") == "ok");
    CHECK(std::stod(row.at("rel_l2_err")) < 1e-2);
    CHECK(std::stod(row.at("tflops")) > 0);
  }
  CHECK(t.rows[0].at("pattern") == "random");
  CHECK(t.rows[0].at("density_requested") == "0.5");
  CHECK(t.rows[0].at("window") == "");
  CHECK(t.rows[0].at("mask_per_head") == "true");
  CHECK(std::abs(std::stod(t.rows[0].at("density")) - 0.5) < 0.1);
  CHECK(t.rows[2].at("pattern") == "causal_window");
  CHECK(t.rows[2].at("window") == "33");
  CHECK(t.rows[2].at("block") == "128");
  CHECK(t.rows[3].at("status") == "unsupported");
  CHECK(t.rows[3].at("reason").find("the CPU reference's limit") != std::string::npos);
  CHECK(std::stod(t.rows[3].at("density")) == Approx(0.5).epsilon(1e-3));
  // The result row's shape text and pivot come from the pattern's columns.
  const OpSpec& op = op_spec(OpKind::sparse_attention);
  CHECK(op.row_shape(t.rows[2]) == "fp32 b1 h2 s150 d16 causal_window w33 blk128");
  CHECK(op.row_pivot(t.rows[0]).title == " random 0.5 blk64 per-head");
}

namespace {

// The device the variants' refusals are checked against, and an odd bf16 d128 window case.
DeviceCaps h200_caps() {
  DeviceCaps h200;
  h200.available = true;
  h200.cc_major = 9;
  h200.smem_per_block_optin = 227 * 1024;
  return h200;
}
Problem odd_window_d128() {
  Problem p = sparse(SparsePattern::window, DType::bf16, 333, 300);
  p.window = 50;
  p.head_dim = 128;
  return p;
}

}  // namespace

TEST_CASE("the sparse GPU variants: listed, refused without a device, tiles chosen to fit the mask's block",
          "[sparse][variants]") {
  const Registry& r = test::registry();
  DeviceCaps none;
  none.unavailable_reason = "no CUDA device";
  const DeviceCaps h200 = h200_caps();
  Problem p = odd_window_d128();
  for (const char* name : {"sparse.masked", "sparse.block_skip", "sparse.wgmma"}) {
    INFO(name);
    const Variant* v = r.find(name);
    REQUIRE(v);
    CHECK(v->op == OpKind::sparse_attention);
    CHECK(v->backend == Backend::gpu);
    CHECK(unsupported_reason(*v, p, with_defaults(*v, {}), none) == std::optional<std::string>("no CUDA device"));
    for (std::int64_t block : {64, 128}) {
      p.block = block;
      const auto reason = unsupported_reason(*v, p, with_defaults(*v, {}), h200);
      if (std::string(name) != "sparse.wgmma" || attention_wgmma_compiled()) CHECK_FALSE(reason);
    }
    // A 128-key tile cannot run blocks of 64 (sparse.wgmma), nor a 64-key tile ask for 128 rows at
    // d128 (none compiled): refused, naming the rule and the compiled tiles.
    p.block = 64;
    const Params asked = std::string(name) == "sparse.wgmma" ? Params{{"block_n", 128}} : Params{{"block_n", 64}};
    Params tile = with_defaults(*v, asked);
    if (std::string(name) == "sparse.block_skip") tile["block_m"] = 128;
    const auto reason = unsupported_reason(*v, p, tile, h200);
    if (std::string(name) == "sparse.masked") {
      CHECK_FALSE(reason);  // 64 x 64 fits
      continue;
    }
    REQUIRE(reason);
    if (std::string(name) != "sparse.wgmma" || attention_wgmma_compiled())
      CHECK(reason->find("divide the mask's block 64") != std::string::npos);
  }
  // fp32 runs on CUDA cores (attn.fa2's tiles) up to d256; sparse.masked has no fp32.
  Problem f = sparse(SparsePattern::causal, DType::fp32, 200, 200);
  f.head_dim = 256;
  CHECK_FALSE(unsupported_reason(*r.find("sparse.block_skip"), f, with_defaults(*r.find("sparse.block_skip"), {}), h200));
  CHECK(unsupported_reason(*r.find("sparse.masked"), f, with_defaults(*r.find("sparse.masked"), {}), h200));
}

TEST_CASE("sparse.wgmma's loops: pipeline 3 (warp-specialized) for d128 blocks of 128, pipeline 1 elsewhere",
          "[sparse][variants]") {
  if (!attention_wgmma_compiled()) return;  // no sm_90a tiles in this build
  const Variant* v = test::registry().find("sparse.wgmma");
  REQUIRE(v);
  const DeviceCaps h200 = h200_caps();
  Problem p = odd_window_d128();
  for (std::int64_t pipeline : {1, 3}) {
    INFO("pipeline " << pipeline);
    const Params asked = with_defaults(*v, {{"pipeline", pipeline}});
    p.block = 128;
    CHECK_FALSE(unsupported_reason(*v, p, asked, h200));
    p.block = 64;  // the warp-specialized tile is 128 query rows: it cannot run blocks of 64
    const auto reason = unsupported_reason(*v, p, asked, h200);
    CHECK(reason.has_value() == (pipeline == 3));
    if (reason) CHECK(reason->find("divide the mask's block 64") != std::string::npos);
  }
  p.block = 128;
  p.head_dim = 64;  // compiled at d128 only
  const auto d64 = unsupported_reason(*v, p, with_defaults(*v, {{"pipeline", 3}}), h200);
  REQUIRE(d64);
  CHECK(d64->find("pipeline=3") != std::string::npos);
  // The tile listing names the loop of each compiled tile, the warp-specialized ones first.
  const std::string listed = v->constraints;
  CHECK(listed.find("(bf16, 128, 128, 128, 3, ") != std::string::npos);
  CHECK(listed.find("(fp16, 128, 128, 128, 3, ") < listed.find("(fp16, 128, 128, 128, 1, "));
}

TEST_CASE("configs/sparse.json expands: seed 000's table and the density sweeps", "[sparse][config]") {
  const Plan plan = load_plan_file(std::string(FABENCH_SOURCE_DIR) + "/configs/sparse.json", test::registry());
  const auto cases = expand_plan(plan, test::registry());
  std::set<std::string> patterns;
  std::int64_t cpu_runnable = 0;
  DeviceCaps none;
  for (const ExpandedCase& ec : cases) {
    patterns.insert(std::string(to_string(ec.c.problem.pattern)));
    const Variant& v = *test::registry().find(ec.c.variant);
    if (!unsupported_reason(v, ec.c.problem, ec.c.params, none)) ++cpu_runnable;
  }
  CHECK(patterns == std::set<std::string>{"random", "window", "causal", "causal_window", "documents", "global_window"});
  CHECK(cpu_runnable >= 10);
  CHECK(cases.size() >= 60);
}

TEST_CASE("sparse_attention: a mask too large to build on the host is a config error, not a stall", "[sparse][config]") {
  const std::string huge =
      R"({"experiments": [{"op": "sparse_attention", "variants": ["sparse.cpu_reference"], "seq_len": 2147483647, "head_dim": 16, "pattern": "causal"}]})";
  CHECK(error_of(huge).find("experiments[0]: the mask has 2.15e+09 query rows") == 0);
  const std::string per_head =
      R"({"experiments": [{"op": "sparse_attention", "variants": ["sparse.cpu_reference"], "batch": 64, "heads": 64, "seq_len": 65536, "head_dim": 16, "pattern": "random", "density": 0.5, "mask_per_head": true}]})";
  CHECK(error_of(per_head).find("one per batch and head") != std::string::npos);
}

// sparse_attention (issue 18): attention forward O = softmax(scale * Q K^T) V per batch and head,
// GQA as attention's, under a mask given at a granularity of `block` (64 or 128): each (query block,
// key block) pair is empty (skipped), full (no mask arithmetic) or partial (an element mask). The
// mask comes from a pattern and the problem's seed, or from a .npy file (core/sparse_mask.hpp);
// one shared by every batch and head, or one per (batch, head). A query row that keeps nothing gives
// zeros and a log-sum-exp of -inf, as attention does.
#include "ops/sparse_attention.hpp"

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <map>
#include <mutex>
#include <numeric>

#include "core/variant.hpp"
#include "ops/attention_shape.hpp"
#include "ops/op_helpers.hpp"
#include "reference/attention_reference.hpp"

namespace fabench {

// ---- the cached mask and layout ----------------------------------------------------------------

namespace {

// A mask file is keyed by its size and time too, so a file rewritten between two calls is read again.
std::string cache_key(const Problem& p) {
  std::string k = fmt::format("{}#{}", p.key(), p.seed);
  if (p.pattern == SparsePattern::file) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(p.mask_file, ec);
    const auto time = std::filesystem::last_write_time(p.mask_file, ec);
    k += fmt::format("#{}#{}", ec ? 0 : size, ec ? 0 : time.time_since_epoch().count());
  }
  return k;
}

struct Cached {
  std::shared_ptr<const SparseMask> mask;
  std::shared_ptr<const BlockLayout> layout;
};

std::mutex g_cache_mutex;
std::map<std::string, Cached> g_cache;  // a few recent problems: a plan asks about each case in turn

Cached& cache_entry(const std::string& key) {
  if (g_cache.size() >= 8 && !g_cache.count(key)) g_cache.clear();
  return g_cache[key];
}

}  // namespace

std::shared_ptr<const SparseMask> sparse_mask_of(const Problem& p) {
  const std::string key = cache_key(p);
  {
    std::lock_guard<std::mutex> lock(g_cache_mutex);
    if (auto& e = cache_entry(key); e.mask) return e.mask;
  }
  auto mask = std::make_shared<const SparseMask>(p);  // built outside the lock: it may take a while
  std::lock_guard<std::mutex> lock(g_cache_mutex);
  auto& e = cache_entry(key);
  if (!e.mask) e.mask = mask;
  return e.mask;
}

const SparseSummary& sparse_summary_of(const Problem& p) {
  static std::mutex mutex;
  static std::map<std::string, SparseSummary> summaries;  // a few dozen bytes each
  const std::string key = cache_key(p);
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (auto it = summaries.find(key); it != summaries.end()) return it->second;
  }
  // Built here, timed, and handed to the cache (a mask already there, e.g. a mask file's read when
  // the config was checked, is built once more for its time).
  const auto start = std::chrono::steady_clock::now();
  auto mask = std::make_shared<const SparseMask>(p);
  auto layout = std::make_shared<const BlockLayout>(block_layout(*mask));
  const double build_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  {
    std::lock_guard<std::mutex> lock(g_cache_mutex);
    auto& e = cache_entry(key);
    if (!e.mask) e.mask = mask;
    if (!e.layout) e.layout = layout;
  }
  const SparseSummary summary{mask->kept_total(), mask->density(),  layout->offsets.size(), layout->cols.size(),
                              layout->tiles.size(), layout->partial.size(), layout->order.size(), build_ms};
  std::lock_guard<std::mutex> lock(mutex);
  return summaries.emplace(key, summary).first->second;  // std::map: references stay valid
}

std::shared_ptr<const BlockLayout> sparse_layout_of(const Problem& p) {
  const std::string key = cache_key(p);
  {
    std::lock_guard<std::mutex> lock(g_cache_mutex);
    if (auto& e = cache_entry(key); e.layout) return e.layout;
  }
  auto layout = std::make_shared<const BlockLayout>(block_layout(*sparse_mask_of(p)));
  std::lock_guard<std::mutex> lock(g_cache_mutex);
  auto& e = cache_entry(key);
  if (!e.layout) e.layout = layout;
  return e.layout;
}

namespace {

// ---- axes and their checks ---------------------------------------------------------------------

AxisSpec block_axis() {
  return {"block", [](const nlohmann::ordered_json& v, Problem& p) -> std::string {
            if (!v.is_number_integer() || (v.get<std::int64_t>() != 64 && v.get<std::int64_t>() != 128))
              return fmt::format("expected 64 or 128 (query rows x key columns of a mask block), got {}",
                                 describe_json(v));
            p.block = v.get<std::int64_t>();
            return {};
          }};
}

AxisSpec density_axis() {
  return {"density", [](const nlohmann::ordered_json& v, Problem& p) -> std::string {
            if (!v.is_number() || !(v.get<double>() > 0 && v.get<double>() <= 1))
              return fmt::format("expected a fraction of blocks kept in (0, 1], got {}", describe_json(v));
            p.density = v.get<double>();
            return {};
          }};
}

// A list of lengths ([[1024, 3072]] in a sweep: an outer list is the sweep) or {"random": N}.
AxisSpec documents_axis() {
  return {"documents", [](const nlohmann::ordered_json& v, Problem& p) -> std::string {
            const std::string expected =
                "expected a list of document lengths or {\"random\": N} (an outer list is a sweep: write "
                "[[1024, 3072]] for one list)";
            if (v.is_array()) {
              if (v.empty()) return expected + ", got []";
              std::vector<std::int64_t> lengths;
              for (const auto& x : v) {
                if (!x.is_number_integer() || x.get<std::int64_t>() < 1)
                  return fmt::format("document lengths must be positive integers, got {}", describe_json(x));
                lengths.push_back(x.get<std::int64_t>());
              }
              p.doc_lengths = std::move(lengths);
              p.doc_count = 0;
              return {};
            }
            if (v.is_object()) {
              if (v.size() != 1 || !v.contains("random")) return expected + ", got " + describe_json(v);
              const auto& n = v.at("random");
              if (!n.is_number_integer() || n.get<std::int64_t>() < 1)
                return fmt::format("\"random\" takes a positive number of documents, got {}", describe_json(n));
              p.doc_count = n.get<std::int64_t>();
              p.doc_lengths.clear();
              return {};
            }
            return expected + ", got " + describe_json(v);
          }};
}

AxisSpec mask_file_axis() {
  return {"mask_file", [](const nlohmann::ordered_json& v, Problem& p) -> std::string {
            if (!v.is_string() || v.get<std::string>().empty())
              return fmt::format("expected the path of a .npy mask, got {}", describe_json(v));
            p.mask_file = v.get<std::string>();
            return {};
          }};
}

// Which patterns read each pattern parameter.
struct PatternParameter {
  const char* axis;
  std::vector<SparsePattern> patterns;
};

const std::vector<PatternParameter>& pattern_parameters() {
  using S = SparsePattern;
  static const std::vector<PatternParameter> list = {
      {"density", {S::random}},
      {"window", {S::window, S::causal_window, S::global_window}},
      {"documents", {S::documents}},
      {"global_tokens", {S::global_window}},
      {"mask_file", {S::file}},
      {"mask_per_head", {S::random, S::documents, S::file}}};
  return list;
}

std::string patterns_text(const std::vector<SparsePattern>& patterns) {
  std::vector<std::string> names;
  for (SparsePattern s : patterns) names.emplace_back(to_string(s));
  return fmt::format("{}", fmt::join(names, ", "));
}

// kv_heads defaults to heads; each pattern gets exactly its own parameters; documents fit the keys;
// a mask file is read whole and checked against the shape (and decides mask_per_head).
std::string complete(Problem& p, const AxisGiven& given) {
  if (!given("kv_heads")) p.kv_heads = p.heads;
  if (p.heads % p.kv_heads != 0) return fmt::format("heads {} is not a multiple of kv_heads {}", p.heads, p.kv_heads);
  // Masks are built on the host when a plan is checked (FLOPs, bytes and tensor sizes come from
  // them): bound the rows and block pairs to build, so a huge shape is an error, not a stall.
  constexpr double kMaxMaskWork = 1 << 26;
  const double masks = p.mask_per_head ? static_cast<double>(p.batch) * static_cast<double>(p.heads) : 1.0;
  const double block = static_cast<double>(std::max<std::int64_t>(p.block, 1));
  const double rows = masks * static_cast<double>(p.seq_q);
  const double pairs = masks * std::ceil(static_cast<double>(p.seq_q) / block) * std::ceil(static_cast<double>(p.seq_k) / block);
  if (rows > kMaxMaskWork || pairs > kMaxMaskWork)
    return fmt::format("the mask{} has {:.3g} query rows and {:.3g} block pairs to build on the host; at most 2^26 of each",
                       p.mask_per_head ? "s (one per batch and head)" : "", rows, pairs);
  const std::string pattern(to_string(p.pattern));
  for (const PatternParameter& param : pattern_parameters()) {
    const bool used = std::find(param.patterns.begin(), param.patterns.end(), p.pattern) != param.patterns.end();
    if (given(param.axis) && !used)
      return fmt::format("\"{}\" is a parameter of pattern {}, not of {} (give each pattern its own experiment)",
                         param.axis, patterns_text(param.patterns), pattern);
  }
  auto needs = [&](const char* axis) -> std::string {
    return given(axis) ? std::string() : fmt::format("pattern {} needs \"{}\"", pattern, axis);
  };
  switch (p.pattern) {
    case SparsePattern::random: return needs("density");
    case SparsePattern::window:
    case SparsePattern::causal_window: return needs("window");
    case SparsePattern::causal: return {};
    case SparsePattern::global_window:
      if (auto e = needs("window"); !e.empty()) return e;
      if (auto e = needs("global_tokens"); !e.empty()) return e;
      if (p.global_tokens > p.seq_k)
        return fmt::format("global_tokens {} is above seq_k {}", p.global_tokens, p.seq_k);
      return {};
    case SparsePattern::documents: {
      if (auto e = needs("documents"); !e.empty()) return e;
      if (p.doc_count > p.seq_k)
        return fmt::format("{} random documents do not fit seq_k {} (each holds a token at least)", p.doc_count, p.seq_k);
      if (p.doc_count == 0) {
        const std::int64_t sum = std::accumulate(p.doc_lengths.begin(), p.doc_lengths.end(), std::int64_t{0});
        if (sum != p.seq_k)
          return fmt::format("the document lengths sum to {}, not to seq_k {} (documents pack the keys exactly)", sum,
                             p.seq_k);
      }
      return {};
    }
    case SparsePattern::file: {
      if (auto e = needs("mask_file"); !e.empty()) return e;
      const bool asked = p.mask_per_head;
      try {
        const auto mask = sparse_mask_of(p);
        if (given("mask_per_head") && asked != mask->per_head())
          return fmt::format("mask_per_head is {} but mask file \"{}\" holds {}", asked ? "true" : "false", p.mask_file,
                             mask->per_head() ? "one mask per batch and head" : "one mask for all heads");
        p.mask_per_head = mask->per_head();
      } catch (const MaskFileError& e) {
        return e.what();
      }
      return {};
    }
  }
  return {};
}

// ---- key, label, columns -----------------------------------------------------------------------

std::string documents_text(const Problem& p) {
  if (p.pattern != SparsePattern::documents) return {};
  if (p.doc_count > 0) return fmt::format("random:{}", p.doc_count);
  return fmt::format("{}", fmt::join(p.doc_lengths, "+"));
}

// "random-density0.25", "window-w512", "global_window-g16-w512", "documents-512+512", "file-m.npy".
std::string pattern_key(const Problem& p) {
  switch (p.pattern) {
    case SparsePattern::random: return fmt::format("random-density{:g}", p.density);
    case SparsePattern::window: return fmt::format("window-w{}", p.window);
    case SparsePattern::causal: return "causal";
    case SparsePattern::causal_window: return fmt::format("causal_window-w{}", p.window);
    case SparsePattern::documents: return "documents-" + documents_text(p);
    case SparsePattern::global_window: return fmt::format("global_window-g{}-w{}", p.global_tokens, p.window);
    case SparsePattern::file: return "file-" + p.mask_file;
  }
  return "?";
}

std::string key(const Problem& p) {
  return fmt::format("sparse_attention/{}/b{}/h{}/kv{}/sq{}/sk{}/d{}/scale{}/blk{}/{}/{}", to_string(p.dtype), p.batch,
                     p.heads, p.kv_heads, p.seq_q, p.seq_k, p.head_dim, scale_key(p), p.block, pattern_key(p),
                     p.mask_per_head ? "per_head" : "shared");
}

// "random 0.25 blk128", "global_window g16 w512 blk64 per-head": from the pattern's columns.
std::string pattern_text(const std::string& pattern, const std::string& block, const std::string& density,
                         const std::string& window, const std::string& documents, const std::string& global,
                         const std::string& file, const std::string& per_head) {
  std::string s = pattern;
  if (!density.empty()) s += " " + density;
  if (!global.empty()) s += " g" + global;
  if (!window.empty()) s += " w" + window;
  if (!documents.empty()) s += " docs " + documents;
  if (!file.empty()) s += " " + file;
  s += " blk" + block;
  if (per_head == "true") s += " per-head";
  return s;
}

std::string density_requested_text(const Problem& p) {
  return p.pattern == SparsePattern::random ? csv_real(p.density) : std::string();
}
std::string window_text(const Problem& p) {
  const bool used = p.pattern == SparsePattern::window || p.pattern == SparsePattern::causal_window ||
                    p.pattern == SparsePattern::global_window;
  return used ? std::to_string(p.window) : std::string();
}
std::string global_text(const Problem& p) {
  return p.pattern == SparsePattern::global_window ? std::to_string(p.global_tokens) : std::string();
}

std::string pattern_text(const Problem& p) {
  return pattern_text(std::string(to_string(p.pattern)), std::to_string(p.block), density_requested_text(p),
                      window_text(p), documents_text(p), global_text(p), p.mask_file,
                      p.mask_per_head ? "true" : "false");
}

std::string pattern_text(const TextRow& r) {
  return pattern_text(row_text(r, "pattern"), row_text(r, "block"), row_text(r, "density_requested"),
                      row_text(r, "window"), row_text(r, "documents"), row_text(r, "global_tokens"),
                      row_text(r, "mask_file"), row_text(r, "mask_per_head"));
}

std::string heads_text(const Problem& p) {
  return p.kv_heads == p.heads ? fmt::format("h{}", p.heads) : fmt::format("h{}/{}", p.heads, p.kv_heads);
}

std::string label(const Problem& p) {
  std::string seq = p.seq_q == p.seq_k ? fmt::format("s{}", p.seq_q) : fmt::format("s{}x{}", p.seq_q, p.seq_k);
  return fmt::format("{} b{} {} {} d{} {}", to_string(p.dtype), p.batch, heads_text(p), seq, p.head_dim,
                     pattern_text(p));
}

std::string row_seq(const TextRow& r) {
  return row_text(r, "seq_q") == row_text(r, "seq_k") ? row_text(r, "seq_q")
                                                        : row_text(r, "seq_q") + "x" + row_text(r, "seq_k");
}

std::string row_shape(const TextRow& r) {
  return fmt::format("{} b{} {} s{} d{} {}", row_text(r, "dtype"), row_text(r, "batch"), row_heads_text(r), row_seq(r),
                     row_text(r, "head_dim"), pattern_text(r));
}

// Tables per pattern (with its parameters) and GQA ratio; rows seq_len, columns head_dim.
PivotPlace row_pivot(const TextRow& r) {
  PivotPlace place;
  place.title = " " + pattern_text(r);
  if (row_text(r, "kv_heads") != row_text(r, "heads"))
    place.title += fmt::format(" gqa {}:{}", row_text(r, "heads"), row_text(r, "kv_heads"));
  place.corner = "seq_len \\ head_dim";
  place.row = row_seq(r);
  place.column = row_text(r, "head_dim");
  return place;
}

std::vector<ExtraColumn> extra_columns() {
  auto text = [](const char* name, ColumnType type, std::string (*value)(const Problem&)) {
    return ExtraColumn{name, type, true, [value](const Result& r) { return value(r.c.problem); }};
  };
  return {
      text("pattern", ColumnType::text, [](const Problem& p) { return std::string(to_string(p.pattern)); }),
      text("block", ColumnType::integer, [](const Problem& p) { return std::to_string(p.block); }),
      text("density_requested", ColumnType::real, density_requested_text),
      text("window", ColumnType::integer, window_text),
      text("documents", ColumnType::text, documents_text),
      text("global_tokens", ColumnType::integer, global_text),
      text("mask_file", ColumnType::text, [](const Problem& p) { return p.mask_file; }),
      text("mask_per_head", ColumnType::boolean,
           [](const Problem& p) { return std::string(p.mask_per_head ? "true" : "false"); }),
      // The kept fraction of the full score matrix, measured on the generated mask.
      text("density", ColumnType::real,
           [](const Problem& p) {
             try {
               return csv_real(sparse_summary_of(p).density);
             } catch (const std::exception&) {
               return std::string();
             }
           }),
      // The host's time to build the mask and its block lists, apart from the kernel's (a
      // measurement: not part of the plan's rows).
      ExtraColumn{"mask_build_ms", ColumnType::real, false,
                  [](const Result& r) {
                    try {
                      return csv_real(sparse_summary_of(r.c.problem).build_ms);
                    } catch (const std::exception&) {
                      return std::string();
                    }
                  }},
  };
}

// ---- tensors, models, validation ---------------------------------------------------------------

template <class T>
void copy_into(const std::vector<T>& values, HostTensor& t) {
  if (!values.empty()) std::memcpy(t.bytes.data(), values.data(), values.size() * sizeof(T));
}

// Q [batch, heads, seq_q, d], K/V [batch, kv_heads, seq_k, d], O like Q, lse fp32 [batch, heads,
// seq_q] (attention's), then the block layout (core/op_tensors.hpp's sparse_attention_tensors).
std::vector<TensorSpec> tensors(const Problem& p) {
  const ElemType et = storage_type(p.dtype);
  const auto [q, kv, q_rows] = attention_counts(p);
  const SparseSummary& layout = sparse_summary_of(p);
  return {
      {"q", et, q, false, Fill::normal},
      {"k", et, kv, false, Fill::normal},
      {"v", et, kv, false, Fill::normal},
      {"o", et, q, true, Fill::none},
      {"lse", ElemType::f32, q_rows, true, Fill::none},
      {"block_offsets", ElemType::i32, layout.offsets, false, Fill::custom,
       [](const Problem& x, std::uint64_t, HostTensor& t) { copy_into(sparse_layout_of(x)->offsets, t); }},
      {"block_cols", ElemType::i32, layout.cols, false, Fill::custom,
       [](const Problem& x, std::uint64_t, HostTensor& t) { copy_into(sparse_layout_of(x)->cols, t); }},
      {"block_tiles", ElemType::i32, layout.tiles, false, Fill::custom,
       [](const Problem& x, std::uint64_t, HostTensor& t) { copy_into(sparse_layout_of(x)->tiles, t); }},
      {"partial_tiles", ElemType::u8, layout.partial, false, Fill::custom,
       [](const Problem& x, std::uint64_t, HostTensor& t) { copy_into(sparse_layout_of(x)->partial, t); }},
      {"block_order", ElemType::i32, layout.order, false, Fill::custom,
       [](const Problem& x, std::uint64_t, HostTensor& t) { copy_into(sparse_layout_of(x)->order, t); }},
  };
}

// 4*d per kept score (Q K^T and P V, a multiply-add = 2) over every batch and head: partial blocks
// count their kept elements, empty blocks nothing.
double flops(const Problem& p) {
  return 4.0 * static_cast<double>(p.head_dim) * static_cast<double>(sparse_summary_of(p).kept_total);
}

// Q, K, V read once, O and the fp32 lse written once (as attention's, whatever the density: a
// kernel that skips every block of a K/V row need not read it, but one that keeps a block per row
// reads all of K and V), plus the mask as a kernel reads it: offsets, columns, tiles, partial tiles
// and the query blocks' order (sparse.wgmma v3 reads it; 4 bytes a query block).
double bytes(const Problem& p) {
  const double es = static_cast<double>(elem_size(storage_type(p.dtype)));
  const double q_rows = static_cast<double>(p.batch * p.heads * p.seq_q);
  const double kv_rows = static_cast<double>(p.batch * p.kv_heads * p.seq_k);
  const double d = static_cast<double>(p.head_dim);
  const SparseSummary& layout = sparse_summary_of(p);
  const double mask = 4.0 * static_cast<double>(layout.offsets + layout.cols + layout.tiles + layout.order) +
                      static_cast<double>(layout.partial);
  return (2.0 * q_rows * d + 2.0 * kv_rows * d) * es + 4.0 * q_rows + mask;
}

// Sampled rows covering every batch and head against the attention reference over the row's kept keys.
Validation validate(const Problem& p, const std::vector<HostTensor>& t, const ValidationSettings& s) {
  namespace T = sparse_attention_tensors;
  const float* q = t[T::q].values.data();
  const float* k = t[T::k].values.data();
  const float* v = t[T::v].values.data();
  const float* lse = t[T::lse].as<float>();
  const auto mask = sparse_mask_of(p);
  return validate_rows(p, {t[T::o], p.batch * p.heads, p.seq_q, p.head_dim, true}, s,
                       [&](std::int64_t row, double* ref, RowError& e) {
                         const std::int64_t b = row / (p.heads * p.seq_q), h = (row / p.seq_q) % p.heads,
                                            i = row % p.seq_q;
                         std::vector<KeyRange> ranges;
                         mask->row(mask->index(b, h), i, ranges);
                         double ref_lse = 0;
                         attention_reference_row(p, q, k, v, b, h, i, ranges.data(), ranges.size(), ref, &ref_lse);
                         check_lse(lse[row], ref_lse, e);
                       });
}

std::string list_details(const Variant& v) {
  return fmt::format("  head dims: {}\n  patterns: {}; blocks 64, 128\n",
                     v.head_dims.empty() ? std::string("any") : fmt::format("{}", fmt::join(v.head_dims, ", ")),
                     sparse_pattern_choices());
}

}  // namespace

const OpSpec& sparse_attention_op() {
  static const OpSpec spec = [] {
    OpSpec s;
    s.kind = OpKind::sparse_attention;
    s.name = "sparse_attention";
    s.axes = {dtype_axis(),
              positive_int_axis("batch", &Problem::batch),
              positive_int_axis("heads", &Problem::heads),
              positive_int_axis("kv_heads", &Problem::kv_heads),
              seq_len_axis(),
              positive_int_axis("seq_q", &Problem::seq_q),
              positive_int_axis("seq_k", &Problem::seq_k),
              positive_int_axis("head_dim", &Problem::head_dim),
              scale_axis(),
              block_axis(),
              choice_axis("pattern", parse_sparse_pattern, sparse_pattern_choices, &Problem::pattern),
              density_axis(),
              positive_int_axis("window", &Problem::window),
              documents_axis(),
              positive_int_axis("global_tokens", &Problem::global_tokens),
              mask_file_axis(),
              bool_axis("mask_per_head", &Problem::mask_per_head)};
    s.check_required = [](const AxisGiven& given) { return seq_required(given, {"head_dim", "pattern"}); };
    s.complete = complete;
    s.key = key;
    s.label = label;
    s.default_scale = inverse_sqrt_head_dim;
    s.tensors = tensors;
    s.flops = flops;
    s.bytes = bytes;
    s.validate = validate;
    s.shape_columns = attention_shape_columns_without_causal;
    s.row_shape = row_shape;
    s.row_pivot = row_pivot;
    s.extra_columns = extra_columns();
    s.list_details = list_details;
    return s;
  }();
  return spec;
}

}  // namespace fabench

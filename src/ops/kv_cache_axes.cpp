#include "ops/kv_cache_axes.hpp"

#include <algorithm>
#include <cstring>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <limits>

#include "core/variant.hpp"
#include "kernels/decode/decode.h"
#include "ops/op_helpers.hpp"

namespace fabench {

namespace {

AxisSpec q_len_axis() {
  return {"q_len", [](const nlohmann::ordered_json& v, Problem& p) -> std::string {
            std::int64_t n = 0;
            if (auto e = positive_int_error(v, n); !e.empty()) return e;
            if (n > kMaxDecodeQueryLen)
              return fmt::format("{} is above {}, the most new tokens per sequence a decode step takes", n,
                                 kMaxDecodeQueryLen);
            p.seq_q = n;
            return {};
          }};
}

std::string page_sizes_text() { return fmt::format("{}", fmt::join(decode_page_sizes(), ", ")); }

AxisSpec page_size_axis() {
  return {"page_size", [](const nlohmann::ordered_json& v, Problem& p) -> std::string {
            if (!v.is_number_integer())
              return fmt::format("expected 0 (a contiguous cache) or a page size ({}), got {}", page_sizes_text(),
                                 describe_json(v));
            const auto n = v.get<std::int64_t>();
            const auto& sizes = decode_page_sizes();
            if (n != 0 && std::find(sizes.begin(), sizes.end(), n) == sizes.end())
              return fmt::format("page size {} is not compiled (compiled: {}; 0 for a contiguous cache)", n,
                                 page_sizes_text());
            p.page_size = n;
            return {};
          }};
}

}  // namespace

std::vector<AxisSpec> kv_cache_axes() {
  return {q_len_axis(), positive_int_axis("cache_len", &Problem::seq_k), positive_int_axis("max_len", &Problem::max_len),
          choice_axis("lengths", parse_seq_lengths, seq_lengths_choices, &Problem::lengths), page_size_axis()};
}

std::string kv_cache_check_required(const AxisGiven& given) { return first_missing(given, {"cache_len", "head_dim"}); }

std::string kv_cache_complete(Problem& p, const AxisGiven& given) {
  if (!given("q_len")) p.seq_q = 1;
  if (!given("max_len")) p.max_len = p.seq_k;
  if (p.seq_k > p.max_len) return fmt::format("cache_len {} is above max_len {}", p.seq_k, p.max_len);
  if (p.seq_q > p.seq_k)
    return fmt::format("q_len {} is above cache_len {} (the cache holds the new tokens too)", p.seq_q, p.seq_k);
  // Each case's lengths (and a decode case's FLOP model) are built on the host, batch by batch,
  // also for --dry-run and plan: a bound keeps those instant.
  if (p.batch > kMaxKvBatch) return fmt::format("batch {} is above {} sequences", p.batch, kMaxKvBatch);
  if (p.max_len > std::numeric_limits<std::int32_t>::max())
    return fmt::format("max_len {} does not fit the int32 sequence lengths", p.max_len);
  if (kv_cache_shape(p).num_pages() > std::numeric_limits<std::int32_t>::max())
    return fmt::format("a pool of {} pages does not fit the int32 page table", kv_cache_shape(p).num_pages());
  return {};
}

KvCacheShape kv_cache_shape(const Problem& p) {
  KvCacheShape s;
  s.batch = p.batch;
  s.kv_heads = p.kv_heads;
  s.max_len = p.max_len;
  s.head_dim = p.head_dim;
  s.page_size = p.page_size;
  return s;
}

std::vector<std::int32_t> problem_sequence_lengths(const Problem& p) {
  return make_sequence_lengths(p.lengths == SeqLengths::mixed, p.batch, p.seq_q, p.seq_k, p.seed);
}

std::vector<std::int32_t> problem_page_table(const Problem& p) { return make_page_table(kv_cache_shape(p), p.seed); }

namespace {

// Index tensors come from the problem's seed, not the tensor's: the FLOP and byte models and the
// references regenerate the same lengths from the problem alone.
void copy_into(const std::vector<std::int32_t>& values, HostTensor& t) {
  if (!values.empty()) std::memcpy(t.bytes.data(), values.data(), values.size() * sizeof(std::int32_t));
}

}  // namespace

TensorSpec lengths_tensor(const Problem& p) {
  return {"lengths", ElemType::i32, static_cast<std::size_t>(p.batch), false, Fill::custom,
          [](const Problem& q, std::uint64_t, HostTensor& t) { copy_into(problem_sequence_lengths(q), t); }};
}

TensorSpec page_table_tensor(const Problem& p) {
  return {"page_table", ElemType::i32, static_cast<std::size_t>(kv_cache_shape(p).num_pages()), false, Fill::custom,
          [](const Problem& q, std::uint64_t, HostTensor& t) { copy_into(problem_page_table(q), t); }};
}

std::string kv_cache_key(const Problem& p) {
  return fmt::format("q{}/c{}/max{}/{}/page{}/d{}", p.seq_q, p.seq_k, p.max_len, to_string(p.lengths), p.page_size,
                     p.head_dim);
}

namespace {

std::string cache_label(const std::string& q_len, const std::string& cache_len, const std::string& max_len,
                        const std::string& head_dim, const std::string& page_size, const std::string& lengths) {
  std::string s = fmt::format("q{} c{}", q_len, cache_len);
  if (!max_len.empty() && max_len != cache_len) s += " max" + max_len;
  s += " d" + head_dim;
  if (!page_size.empty() && page_size != "0") s += " page" + page_size;
  if (lengths == "mixed") s += " mixed";
  return s;
}

}  // namespace

std::string kv_cache_label(const Problem& p) {
  return cache_label(std::to_string(p.seq_q), std::to_string(p.seq_k), std::to_string(p.max_len),
                     std::to_string(p.head_dim), std::to_string(p.page_size), std::string(to_string(p.lengths)));
}

std::string kv_cache_row_label(const TextRow& r) {
  return cache_label(row_text(r, "seq_q"), row_text(r, "seq_k"), row_text(r, "max_len"), row_text(r, "head_dim"),
                     row_text(r, "page_size"), row_text(r, "lengths"));
}

PivotPlace kv_cache_row_pivot(const TextRow& r, std::string title) {
  PivotPlace place;
  const std::string page = row_text(r, "page_size");
  title += fmt::format(" q{} d{} {} {}", row_text(r, "seq_q"), row_text(r, "head_dim"),
                       page.empty() || page == "0" ? std::string("contiguous") : "page" + page,
                       row_text(r, "lengths"));
  place.title = std::move(title);
  place.corner = "cache_len \\ batch";
  place.row = row_text(r, "seq_k");
  if (const std::string max_len = row_text(r, "max_len"); !max_len.empty() && max_len != place.row)
    place.row += " (max " + max_len + ")";
  place.column = row_text(r, "batch");
  return place;
}

std::vector<ExtraColumn> kv_cache_columns() {
  return {{"max_len", ColumnType::integer, true, [](const Result& r) { return std::to_string(r.c.problem.max_len); }},
          {"lengths", ColumnType::text, true,
           [](const Result& r) { return std::string(to_string(r.c.problem.lengths)); }},
          {"page_size", ColumnType::integer, true,
           [](const Result& r) { return std::to_string(r.c.problem.page_size); }}};
}

std::string kv_cache_list_details(const Variant& v) {
  return fmt::format("  head dims: {}\n  page sizes compiled: {} (page_size 0: a contiguous cache)\n",
                     v.head_dims.empty() ? std::string("any multiple of 8") : fmt::format("{}", fmt::join(v.head_dims, ", ")),
                     page_sizes_text());
}

}  // namespace fabench

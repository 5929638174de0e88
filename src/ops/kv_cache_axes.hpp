#pragma once
// What the decode and kv_append ops share: the KV-cache axes (q_len, cache_len, max_len, lengths,
// page_size) and their checks, the cache's shape, the seeded lengths and page table as tensors,
// key and label pieces, the extra CSV columns, and a result row's shape text and pivot place.
#include <cstdint>
#include <string>
#include <vector>

#include "core/kv_cache_layout.hpp"
#include "ops/op.hpp"

namespace fabench {

// The most sequences a decode or kv_append case takes.
constexpr std::int64_t kMaxKvBatch = std::int64_t{1} << 20;

// The most new tokens per sequence a decode step takes (speculative decoding).
constexpr std::int64_t kMaxDecodeQueryLen = 16;

// q_len (1..16, in Problem::seq_q), cache_len (>= 1, in Problem::seq_k), max_len, lengths
// ("equal" | "mixed") and page_size (0 or a compiled page size).
std::vector<AxisSpec> kv_cache_axes();

// "missing \"cache_len\"" / "missing \"head_dim\"" or "".
std::string kv_cache_check_required(const AxisGiven& given);
// Defaults (q_len 1, max_len = cache_len) and the checks across axes: q_len <= cache_len <= max_len,
// max_len within int32 (lengths are int32). The error text for the experiment's path, or "".
std::string kv_cache_complete(Problem& p, const AxisGiven& given);

// The K (or V) cache of a problem: [batch, kv_heads, max_len, d] or the paged pool.
KvCacheShape kv_cache_shape(const Problem& p);
// The current length of each sequence, from the problem's seed (so the models regenerate them).
std::vector<std::int32_t> problem_sequence_lengths(const Problem& p);
// The page table of a paged problem (empty when contiguous), from the problem's seed.
std::vector<std::int32_t> problem_page_table(const Problem& p);

// int32 [batch] and int32 [batch, pages_per_seq] (count 0 when contiguous), filled by the two above.
TensorSpec lengths_tensor(const Problem& p);
TensorSpec page_table_tensor(const Problem& p);

// "q1/c8192/max8192/equal/page0/d128": the cache's part of a key.
std::string kv_cache_key(const Problem& p);
// "q1 c8192 d128 page64 mixed" ("c8192 max16384" when the capacity differs; page and lengths only
// when paged and mixed): the cache's part of a label, from a problem and from a result row.
std::string kv_cache_label(const Problem& p);
std::string kv_cache_row_label(const TextRow& r);

// Tables per (title given by the op) page size and lengths; rows cache_len (with max_len when it
// differs), columns batch.
PivotPlace kv_cache_row_pivot(const TextRow& r, std::string title);

// The columns beyond the base list: max_len, lengths, page_size (seq_q and seq_k hold q_len and
// cache_len).
std::vector<ExtraColumn> kv_cache_columns();

// `fa-bench list` lines: head dims and page sizes.
std::string kv_cache_list_details(const Variant& v);

}  // namespace fabench

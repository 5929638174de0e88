#pragma once
// Where the tokens of a KV cache live, contiguous or paged, and the seeded sequence lengths and
// page tables of the decode op. Host code only: the GPU kernels compute the same offsets inline.
#include <cstdint>
#include <vector>

namespace fabench {

// The shape of one of the K or V caches (both have the same one).
//   page_size == 0, contiguous: [batch, kv_heads, max_len, head_dim].
//   page_size P > 0, paged: a pool of num_pages() pages, each [kv_heads, P, head_dim], reached
//   through an int32 page table [batch, pages_per_sequence()]. The last page of a sequence has
//   pages_per_sequence() * P - max_len unused rows when P does not divide max_len.
struct KvCacheShape {
  std::int64_t batch = 1, kv_heads = 1, max_len = 0, head_dim = 0, page_size = 0;

  bool paged() const { return page_size > 0; }
  // ceil(max_len / page_size) when paged; 0 when contiguous (there is no page table).
  std::int64_t pages_per_sequence() const;
  // batch * pages_per_sequence(): the pool, and the page table's entry count. 0 when contiguous.
  std::int64_t num_pages() const;
  // Floats in one of K or V, the paged pool's unused tail rows included.
  std::int64_t elements() const;
};

// Element offset of the row of token t (0 <= t < max_len) of sequence b, kv head kvh.
// page_table is only read when the cache is paged (nullptr is fine when contiguous).
std::int64_t kv_offset(const KvCacheShape& shape, const std::int32_t* page_table, std::int64_t b, std::int64_t kvh,
                       std::int64_t t);

// Current length L_b of each sequence, 1 <= q_len <= L_b <= cache_len.
//   equal (mixed false): every L_b = cache_len.
//   mixed: seeded, L_b uniform in [q_len, cache_len]; one seeded sequence is set to exactly
//   cache_len so the maximum is reached, and when batch > 1 and cache_len > q_len at least one
//   sequence is shorter, so a "mixed" case is never secretly an equal one.
// Deterministic across platforms (splitmix64, no <random> distributions). Throws
// std::invalid_argument unless batch >= 1 and 1 <= q_len <= cache_len.
std::vector<std::int32_t> make_sequence_lengths(bool mixed, std::int64_t batch, std::int64_t q_len,
                                                std::int64_t cache_len, std::uint64_t seed);

// The page table of a paged shape: a seeded permutation of 0..num_pages()-1, laid out
// [batch, pages_per_sequence()], so a sequence's pages are scattered through the pool as they
// are in a real serving cache and a kernel that assumes page p at slot p is caught. Never the
// identity when num_pages() >= 2. Deterministic across platforms (own splitmix64 and
// Fisher-Yates: std::shuffle and std::uniform_int_distribution differ between standard
// libraries). Empty for a contiguous shape.
std::vector<std::int32_t> make_page_table(const KvCacheShape& shape, std::uint64_t seed);

}  // namespace fabench

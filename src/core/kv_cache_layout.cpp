#include "core/kv_cache_layout.hpp"

#include <algorithm>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>

#include "core/checked_size.hpp"
#include "core/seeded_random.hpp"

namespace fabench {

namespace {

// Separate streams for lengths and page tables: a case that uses both from one seed does not get
// page tables correlated with its lengths.
constexpr std::uint64_t kLengthsStream = 0x6C656E67746873ull;  // "lengths"
constexpr std::uint64_t kPagesStream = 0x7061676573ull;        // "pages"

}  // namespace

std::int64_t KvCacheShape::pages_per_sequence() const { return paged() ? (max_len + page_size - 1) / page_size : 0; }

std::int64_t KvCacheShape::num_pages() const { return checked_elements("page_table", {batch, pages_per_sequence()}); }

std::int64_t KvCacheShape::elements() const {
  if (paged()) return checked_elements("k_cache", {num_pages(), kv_heads, page_size, head_dim});
  return checked_elements("k_cache", {batch, kv_heads, max_len, head_dim});
}

std::int64_t kv_offset(const KvCacheShape& shape, const std::int32_t* page_table, std::int64_t b, std::int64_t kvh,
                       std::int64_t t) {
  if (!shape.paged()) return ((b * shape.kv_heads + kvh) * shape.max_len + t) * shape.head_dim;
  const std::int64_t P = shape.page_size;
  const std::int64_t page = page_table[b * shape.pages_per_sequence() + t / P];
  return ((page * shape.kv_heads + kvh) * P + t % P) * shape.head_dim;
}

std::vector<std::int32_t> make_sequence_lengths(bool mixed, std::int64_t batch, std::int64_t q_len,
                                                std::int64_t cache_len, std::uint64_t seed) {
  if (batch < 1 || q_len < 1 || q_len > cache_len || cache_len > std::numeric_limits<std::int32_t>::max())
    throw std::invalid_argument("sequence lengths need batch >= 1 and 1 <= q_len <= cache_len, got batch " +
                                std::to_string(batch) + ", q_len " + std::to_string(q_len) + ", cache_len " +
                                std::to_string(cache_len));
  std::vector<std::int32_t> lengths(static_cast<std::size_t>(batch), static_cast<std::int32_t>(cache_len));
  if (!mixed) return lengths;
  SplitMix rng{seed ^ kLengthsStream};
  const auto span = static_cast<std::uint64_t>(cache_len - q_len + 1);
  for (auto& l : lengths) l = static_cast<std::int32_t>(q_len + static_cast<std::int64_t>(rng.below(span)));
  // Which sequence is the longest is seeded too, so kernels cannot rely on it being the first.
  const auto longest = static_cast<std::size_t>(rng.below(static_cast<std::uint64_t>(batch)));
  lengths[longest] = static_cast<std::int32_t>(cache_len);
  const bool all_full = std::all_of(lengths.begin(), lengths.end(), [&](std::int32_t l) { return l == cache_len; });
  if (batch > 1 && span > 1 && all_full) {
    // Only likely when the range is small: pick another sequence and give it a shorter length.
    auto other = static_cast<std::size_t>(rng.below(static_cast<std::uint64_t>(batch - 1)));
    if (other >= longest) ++other;
    lengths[other] = static_cast<std::int32_t>(q_len + static_cast<std::int64_t>(rng.below(span - 1)));
  }
  return lengths;
}

std::vector<std::int32_t> make_page_table(const KvCacheShape& shape, std::uint64_t seed) {
  const std::int64_t n = shape.num_pages();
  if (n > std::numeric_limits<std::int32_t>::max())
    throw std::invalid_argument("page pool of " + std::to_string(n) + " pages does not fit int32 page indices");
  std::vector<std::int32_t> table(static_cast<std::size_t>(n));
  std::iota(table.begin(), table.end(), 0);
  SplitMix rng{seed ^ kPagesStream};
  // Fisher-Yates, high to low: every permutation equally likely.
  for (std::int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(i + 1)));
    std::swap(table[static_cast<std::size_t>(i)], table[static_cast<std::size_t>(j)]);
  }
  // A shuffle lands on the identity with probability 1/n!, which is not small for tiny pools;
  // an in-order table would let a kernel that ignores the table pass, so break it.
  if (n >= 2 && std::is_sorted(table.begin(), table.end())) std::swap(table[0], table[1]);
  return table;
}

}  // namespace fabench

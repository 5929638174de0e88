#include "core/models.hpp"

#include <algorithm>

namespace fabench {

double causal_pairs(std::int64_t seq_q, std::int64_t seq_k) {
  // Query i (0-based) sees keys j <= i + (seq_k - seq_q); count them in closed form.
  double total = 0;
  std::int64_t offset = seq_k - seq_q;
  std::int64_t first_full = std::max<std::int64_t>(0, seq_k - offset);  // rows seeing every key
  std::int64_t first_any = std::max<std::int64_t>(0, -offset);           // rows seeing >= 1 key
  std::int64_t partial_end = std::min(seq_q, first_full);
  if (partial_end > first_any) {
    // rows first_any..partial_end-1 see i + offset + 1 keys: an arithmetic series
    double a = static_cast<double>(first_any + offset + 1);
    double b = static_cast<double>(partial_end - 1 + offset + 1);
    total += (a + b) * static_cast<double>(partial_end - first_any) / 2.0;
  }
  if (seq_q > first_full) total += static_cast<double>(seq_q - first_full) * static_cast<double>(seq_k);
  return total;
}

}  // namespace fabench

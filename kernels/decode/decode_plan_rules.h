#pragma once
// The split-KV planner's arithmetic that needs no device (decode_plan.cu uses it; the CPU tests
// check it): how many tokens a split takes when a batch's lengths differ.
#include <algorithm>
#include <cstdint>

namespace fabench {

// Lengths far from equal (their sum below 90% of batch x the longest) get splits sized to the work,
// not to the longest sequence.
inline bool lengths_unequal(std::int64_t batch, std::int64_t longest, std::int64_t total_tokens) {
  return total_tokens > 0 && batch > 1 && total_tokens * 10 < batch * longest * 9;
}

// Tokens a split takes for unequal lengths: `token_rows` (the tokens of every sequence x KV heads x
// row chunks) spread over waves of `wave` blocks make about four waves, so that the last, partly
// filled wave and the longest block cost at most about a quarter of the whole; a whole number of
// `tile`s, at least one, at most `longest` rounded up to a tile. A split of the longest sequence
// per block instead leaves SMs idle while the long sequences finish (at 164eec7 on an H200, batch
// 16 x 8k with mixed lengths read 2.9 TB/s where equal lengths read 4.3: results/h200/
// decode_floor_164eec728c26). Measured at ee7f044 on an H200 against main 5cb3ad7's one split of the
// longest (results/h200/decode_mixed_plan_ee7f044b3f75): batch 16 x 8k / 32k mixed 1.21 / 1.40x,
// batch 64 x 8k / 32k 1.09 / 1.12x (32 / 8 heads) and 1.12 / 1.17x (32 / 32), each at or above
// the best forced split count.
inline std::int64_t unequal_split_tokens(std::int64_t token_rows, std::int64_t wave, std::int64_t tile,
                                         std::int64_t longest) {
  constexpr std::int64_t kWaves = 4;
  const std::int64_t per_block = (token_rows + wave * kWaves - 1) / (wave * kWaves);
  const std::int64_t tiles = std::max<std::int64_t>((per_block + tile - 1) / tile, 1);
  return std::min(tiles * tile, (longest + tile - 1) / tile * tile);
}

}  // namespace fabench

// The split-KV decode planner and dispatch (decode.h), shared by versions 2 and 3: the splits are
// chosen from the version's shape (rows per block, tile, blocks an SM a wave holds) and the SM count.
#include <algorithm>

#include "kernels/decode/decode_plan_rules.h"
#include "kernels/decode/decode_split_kernels.h"

namespace fabench {

namespace {
constexpr int kMaxPlannedSplits = 256;  // more would only shrink each split below a useful read
constexpr std::int64_t kMaxUnits = 1 << 16;
}  // namespace

const std::vector<int>& decode_head_dims() {
  static const std::vector<int> dims = {64, 128, 256};
  return dims;
}

const std::vector<int>& decode_page_sizes() {
  static const std::vector<int> sizes = {16, 64, 256};
  return sizes;
}

DecodeSplitPlan decode_split_plan(const DecodeArgs& a, int version, int sm_count, int requested_splits) {
  DecodeSplitPlan plan;
  plan.version = version;
  const SplitKernelShape shape = version == 2 ? decode_split_v2_shape(a)
                                 : version == 3 ? decode_split_v3_shape(a)
                                                : SplitKernelShape{};
  plan.compiled = shape.compiled;
  if (!shape.compiled) return plan;
  const std::int64_t rows_per_group = (a.heads / a.kv_heads) * a.q_len;
  plan.rows_per_block = shape.rows_per_block;
  plan.row_chunks = static_cast<int>((rows_per_group + shape.rows_per_block - 1) / shape.rows_per_block);
  const std::int64_t longest = std::max<std::int64_t>(a.longest, 1);
  const std::int64_t tile = shape.tile;
  const std::int64_t units = a.batch * a.kv_heads * plan.row_chunks;
  const int per_sm = shape.wave_blocks > 0 ? shape.wave_blocks : shape.resident_blocks;
  const std::int64_t wave = static_cast<std::int64_t>(std::max(per_sm, 1)) * std::max(sm_count, 1);
  if (requested_splits > 0) {
    plan.splits = requested_splits;
  } else if (units <= kMaxUnits && lengths_unequal(a.batch, longest, a.total_tokens)) {  // counters to merge
    const std::int64_t rows = a.kv_heads * plan.row_chunks * a.total_tokens;
    const std::int64_t split_tokens = unequal_split_tokens(rows, wave, tile, longest);
    plan.splits = static_cast<int>(std::min<std::int64_t>((longest + split_tokens - 1) / split_tokens, kMaxPlannedSplits));
  } else {
    // Splits so that the blocks fill whole waves (the version's blocks an SM: wave_blocks, or all
    // that are resident): a partly filled last wave leaves SMs idle while it runs. Each split at
    // least one tile.
    const std::int64_t most = std::min<std::int64_t>((longest + tile - 1) / tile, kMaxPlannedSplits);
    std::int64_t splits = 1;
    double best = 0;
    for (std::int64_t s = 1; s <= most; ++s) {  // the fewest splits whose blocks fill their waves
      const std::int64_t blocks = units * s, waves = (blocks + wave - 1) / wave;
      const double filled = static_cast<double>(blocks) / static_cast<double>(waves * wave);
      if (filled > best + 0.02) best = filled, splits = s;
      if (filled >= 0.95) break;
    }
    plan.splits = static_cast<int>(splits);
  }
  // Whole tiles per split (tiles then never straddle a page of 64 or more tokens); when chosen
  // here, as few splits as cover the longest sequence.
  plan.split_tokens = ((longest + plan.splits - 1) / plan.splits + tile - 1) / tile * tile;
  if (requested_splits <= 0) plan.splits = static_cast<int>((longest + plan.split_tokens - 1) / plan.split_tokens);
  plan.wide = shape.wide_min_split_tokens > 0 && plan.split_tokens >= shape.wide_min_split_tokens &&
              units * plan.splits <= std::max(sm_count, 1);
  if (plan.splits > 1) {
    const std::int64_t rows = a.batch * a.heads * a.q_len;
    plan.workspace_bytes = static_cast<std::size_t>(rows * plan.splits * (a.head_dim + 1)) * sizeof(float);
  }
  return plan;
}

bool decode_split(const DecodeArgs& a, const DecodeSplitPlan& plan, void* workspace, cudaStream_t stream) {
  if (!plan.compiled || plan.splits < 1 || plan.splits > kMaxPlannedSplits) return false;
  if (plan.splits > 1 && (workspace == nullptr || a.batch * a.kv_heads * plan.row_chunks > kMaxUnits)) return false;
  if (a.batch * a.kv_heads > 65535 || plan.row_chunks > 65535) return false;  // grid.y and grid.z
  if (a.page_size > 0 &&
      std::find(decode_page_sizes().begin(), decode_page_sizes().end(), a.page_size) == decode_page_sizes().end())
    return false;
  if (plan.version == 2) return decode_split_v2(a, plan, workspace, stream);
  if (plan.version == 3) return decode_split_v3(a, plan, workspace, stream);
  return false;
}

}  // namespace fabench

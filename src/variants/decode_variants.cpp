// Registered decode and kv_append variants. Each wraps a launcher from kernels/decode/decode.h.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <stdexcept>
#include <vector>

#include "core/op_tensors.hpp"
#include "core/variant.hpp"
#include "ops/kv_cache_axes.hpp"
#include "variants/kernel_args.hpp"
#include "variants/register.hpp"

namespace fabench {

namespace {

std::vector<std::int64_t> decode_dims() {
  std::vector<std::int64_t> dims;
  for (int d : decode_head_dims()) dims.push_back(d);
  return dims;
}

// The kernel's arguments without tensors, plus what only the planner reads: the lengths' sum (it
// sizes splits to the work where lengths differ), regenerated from the seed here and not on every
// launch's arguments.
DecodeArgs planning_args(const Problem& p) {
  DecodeArgs a = decode_args(p, std::vector<void*>(decode_tensors::count));
  for (std::int32_t length : problem_sequence_lengths(p)) a.total_tokens += length;
  return a;
}

// The split-KV plan of a case: the version and splits asked for (splits 0: the planner's choice
// for this device's SM count). Needs the device: the planner asks the kernels' occupancy.
DecodeSplitPlan split_plan(const Problem& p, const Params& params) {
  return decode_split_plan(planning_args(p), static_cast<int>(params.at("version")), current_device_sm_count(),
                           static_cast<int>(params.at("splits")));
}

// What decode.split_kv and decode.paged cannot run beyond their layout.
std::optional<std::string> split_limits(const Problem& p, const Params& params, const DeviceCaps& caps) {
  const std::int64_t version = params.at("version");
  if (version == 3 && p.dtype == DType::fp32)
    return std::string("version 3 runs on tensor cores (fp16, bf16); ask version 2 for fp32");
  if (version == 3 && caps.available && caps.cc_major < 8)
    return fmt::format("version 3's mma.sync with bf16 needs compute capability 8.0, the device has {}.{}",
                       caps.cc_major, caps.cc_minor);
  if (p.batch * p.kv_heads > 65535) return fmt::format("batch*kv_heads {} > 65535 (grid.y)", p.batch * p.kv_heads);
  const DecodeSplitPlan plan = split_plan(p, params);
  if (!plan.compiled)
    return fmt::format("version {} has no instance for {} head_dim {}", version, to_string(p.dtype), p.head_dim);
  if (plan.row_chunks > 65535) return fmt::format("{} row chunks > 65535 (grid.z)", plan.row_chunks);
  if (plan.splits > 1 && p.batch * p.kv_heads * plan.row_chunks > (1 << 16))
    return fmt::format("batch*kv_heads*row chunks {} > 65536 (the splits' merge counters)",
                       p.batch * p.kv_heads * plan.row_chunks);
  return std::nullopt;
}

std::size_t split_workspace(const Problem& p, const Params& params) {
  const DecodeSplitPlan plan = split_plan(p, params);
  return plan.compiled ? plan.workspace_bytes : 0;
}

void split_launch(const LaunchArgs& la, const char* name) {
  const DecodeSplitPlan plan = split_plan(la.problem, la.params);
  if (!decode_split(decode_args(la.problem, la.tensors), plan, la.workspace, la.stream))
    throw std::runtime_error(fmt::format("{}: the launcher refused version {} with {} splits", name, plan.version,
                                         plan.splits));
}

std::vector<TunableParam> split_params() {
  return {{"version", 3, {2, 3}, "2: CUDA cores (every dtype); 3: tensor cores, mma.sync (fp16, bf16)"},
          {"splits", 0, {0, 1, 2, 4, 8, 16, 32, 64, 128, 256},
           "splits of each sequence's cache, combined by log-sum-exp (0: the fewest that fill whole waves of the "
           "GPU, each a whole number of tiles; more than the cache's tiles leaves some empty)"}};
}

}  // namespace

void register_decode_variants(Registry& r) {
  const std::vector<DType> all_float = {DType::fp32, DType::fp16, DType::bf16};
  r.add(Variant{
      "decode.simple", OpKind::decode, Backend::gpu,
      "v1, seed 001's decode kernel: a block per (batch, KV head), a thread per element of d, a block-wide "
      "reduction and an online-softmax step per cached token",
      all_float, decode_dims(), {},
      "contiguous and paged caches; no workspace; only batch x kv_heads blocks run (slow on long caches)",
      [](const Problem& p, const Params&, const DeviceCaps&) -> std::optional<std::string> {
        if (p.batch * p.kv_heads > (std::int64_t{1} << 31) - 1) return std::string("batch*kv_heads >= 2^31");
        return std::nullopt;
      },
      nullptr,
      [](const LaunchArgs& la) {
        if (!decode_simple(decode_args(la.problem, la.tensors), la.stream))
          throw std::runtime_error("decode.simple: head_dim not compiled");
      }});
  r.add(Variant{
      "decode.split_kv", OpKind::decode, Backend::gpu,
      "Flash-Decoding: each sequence's cache split over blocks so the whole GPU streams it, partials combined by "
      "log-sum-exp; v2 on CUDA cores with bulk-copy stages, v3 on tensor cores (mma.sync)",
      all_float, decode_dims(), split_params(),
      "contiguous cache (paged: decode.paged); workspace (splits x (d + 1)) fp32 per query row when splits > 1",
      [](const Problem& p, const Params& params, const DeviceCaps& caps) -> std::optional<std::string> {
        if (p.page_size > 0) return fmt::format("page_size {}: a paged cache, use decode.paged", p.page_size);
        return split_limits(p, params, caps);
      },
      split_workspace, [](const LaunchArgs& la) { split_launch(la, "decode.split_kv"); }});
  r.add(Variant{
      "decode.paged", OpKind::decode, Backend::gpu,
      "decode.split_kv's kernels over a paged cache: tokens reached through the page table (v2: a bulk copy per "
      "page run; v3: cp.async per token)",
      all_float, decode_dims(), split_params(),
      fmt::format("paged cache only (page sizes {}; contiguous: decode.split_kv); workspace as decode.split_kv",
                  fmt::join(decode_page_sizes(), ", ")),
      [](const Problem& p, const Params& params, const DeviceCaps& caps) -> std::optional<std::string> {
        if (p.page_size == 0) return std::string("a contiguous cache (page_size 0), use decode.split_kv");
        return split_limits(p, params, caps);
      },
      split_workspace, [](const LaunchArgs& la) { split_launch(la, "decode.paged"); }});
  r.add(Variant{
      "kv_append.simple", OpKind::kv_append, Backend::gpu,
      "the new tokens' K and V rows copied into their cache slots (contiguous or through the page table), a block "
      "per (token, KV head, sequence), 16-byte loads and stores",
      all_float, {}, {}, "head_dim a multiple of 8; no workspace",
      [](const Problem& p, const Params&, const DeviceCaps&) -> std::optional<std::string> {
        if (p.head_dim % 8 != 0) return fmt::format("head_dim {} is not a multiple of 8 (16-byte rows)", p.head_dim);
        if (p.head_dim > 8 * 1024) return fmt::format("head_dim {} > 8192 (a thread per 8 elements)", p.head_dim);
        if (p.batch > 65535 || p.kv_heads > 65535) return std::string("batch or kv_heads > 65535 (grid.z/y)");
        return std::nullopt;
      },
      nullptr,
      [](const LaunchArgs& la) {
        if (!kv_append(kv_append_args(la.problem, la.tensors), la.stream))
          throw std::runtime_error("kv_append.simple: the launcher refused the case");
      }});
}

}  // namespace fabench

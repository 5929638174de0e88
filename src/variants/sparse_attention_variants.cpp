// Registered sparse-attention variants: the CPU reference, and the GPU kernels of
// kernels/attention/attention_sparse.h (sparse.masked, sparse.block_skip, sparse.wgmma), which read
// the block layout of core/op_tensors.hpp's sparse_attention_tensors.

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "core/op_tensors.hpp"
#include "core/variant.hpp"
#include "kernels/attention/attention_sparse.h"
#include "ops/registry.hpp"
#include "ops/sparse_attention.hpp"
#include "reference/attention_reference.hpp"
#include "variants/attention_tiles.hpp"
#include "variants/kernel_args.hpp"
#include "variants/register.hpp"

namespace fabench {

namespace {

// The single-threaded CPU reference runs at about 10^9 multiply-adds a second: cases above this many
// kept scores x head_dim (about 0.2 s a launch) are left to the GPU variants.
constexpr double kCpuReferenceLimit = double(std::int64_t{1} << 28);

// The CPU reference as a timed variant, single-threaded: every row over its kept keys.
void sparse_cpu_reference(const LaunchArgs& la) {
  namespace T = sparse_attention_tensors;
  const Problem& p = la.problem;
  const ElemType et = storage_type(p.dtype);
  const std::vector<TensorSpec> specs = op_tensors(p);
  auto decode = [&](std::size_t index) {
    std::vector<float> out(specs[index].count);
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = load_float(la.tensors[index], et, i);
    return out;
  };
  const auto q = decode(T::q), k = decode(T::k), v = decode(T::v);
  const auto mask = sparse_mask_of(p);
  auto* lse = static_cast<float*>(la.tensors[T::lse]);
  std::vector<double> o_row(static_cast<std::size_t>(p.head_dim));
  std::vector<KeyRange> ranges;
  for (std::int64_t b = 0; b < p.batch; ++b)
    for (std::int64_t h = 0; h < p.heads; ++h)
      for (std::int64_t i = 0; i < p.seq_q; ++i) {
        mask->row(mask->index(b, h), i, ranges);
        double row_lse = 0;
        attention_reference_row(p, q.data(), k.data(), v.data(), b, h, i, ranges.data(), ranges.size(), o_row.data(),
                                &row_lse);
        const std::int64_t row = (b * p.heads + h) * p.seq_q + i;
        for (std::int64_t c = 0; c < p.head_dim; ++c)
          store_float(la.tensors[T::o], et, static_cast<std::size_t>(row * p.head_dim + c),
                      static_cast<float>(o_row[c]));
        lse[row] = static_cast<float>(row_lse);
      }
}

std::optional<std::string> cpu_reference_limit(const Problem& p, const Params&, const DeviceCaps&) {
  const double work = static_cast<double>(sparse_summary_of(p).kept_total) * static_cast<double>(p.head_dim);
  if (work > kCpuReferenceLimit)
    return std::string("more than 2^28 kept scores x head_dim, the CPU reference's limit (tenths of a second a "
                       "launch); a GPU variant runs it");
  return std::nullopt;
}

// ---- the GPU variants --------------------------------------------------------------------------

// The block layout's device tensors as the kernels read them (attention_sparse.h).
SparseBlockArgs sparse_block_args(const Problem& p, const std::vector<void*>& t) {
  namespace T = sparse_attention_tensors;
  SparseBlockArgs m;
  m.offsets = static_cast<const std::int32_t*>(t[T::block_offsets]);
  m.cols = static_cast<const std::int32_t*>(t[T::block_cols]);
  m.tiles = static_cast<const std::int32_t*>(t[T::block_tiles]);
  m.partial = static_cast<const std::uint8_t*>(t[T::partial_tiles]);
  m.order = static_cast<const std::int32_t*>(t[T::block_order]);
  m.q_blocks = (p.seq_q + p.block - 1) / p.block;
  m.entries = static_cast<std::int64_t>(sparse_summary_of(p).cols);
  m.block = static_cast<int>(p.block);
  m.per_head = p.mask_per_head;
  return m;
}

// One kernel family of the sparse variants: its compiled tiles and its launcher.
struct SparseKernel {
  const char* name;  // for messages: "attn.fa2_mma's tiles"
  const std::vector<AttentionTile>& (*configs)();
  bool (*launch)(const AttentionArgs&, const SparseBlockArgs&, const AttentionTile&, cudaStream_t);
  std::string (*text)();  // its compiled tiles, for `list` and refusals
  const char* refused;    // why its launcher can still refuse a case the variant accepted
};

#define FA_CONFIG_LIST(FN, CALL)                         \
  const std::vector<AttentionTile>& FN() {               \
    static const std::vector<AttentionTile> list = CALL(); \
    return list;                                         \
  }
FA_CONFIG_LIST(masked_configs, attention_sparse_masked_configs)
FA_CONFIG_LIST(mma_configs, attention_sparse_mma_configs)
FA_CONFIG_LIST(fa2_configs, attention_sparse_fa2_configs)
FA_CONFIG_LIST(wgmma_configs, attention_sparse_wgmma_configs)
#undef FA_CONFIG_LIST

std::string masked_text() { return tiles_text(masked_configs(), true); }
std::string mma_text() { return tiles_text(mma_configs(), true); }
std::string wgmma_text() { return tiles_text(wgmma_configs(), false); }
std::string fa2_text() {
  std::string s = "compiled fp32 (head_dim, block_m, block_n, warps, shared KiB):";
  for (const AttentionTile& t : fa2_configs())
    s += fmt::format(" ({}, {}, {}, {}, {:.0f})", t.head_dim, t.block_m, t.block_n, t.warps, t.smem_bytes / 1024.0);
  return s;
}

constexpr const char* kSmemRefused = "the kernel's shared memory could not be granted";
const SparseKernel kMasked{"attn.fa2_mma's tiles", masked_configs, attention_sparse_masked, masked_text, kSmemRefused};
const SparseKernel kMma{"attn.fa2_mma's tiles", mma_configs, attention_sparse_mma, mma_text, kSmemRefused};
const SparseKernel kFa2{"attn.fa2's tiles (CUDA cores)", fa2_configs, attention_sparse_fa2, fa2_text, kSmemRefused};
const SparseKernel kWgmma{"attn.wgmma's tiles", wgmma_configs, attention_sparse_wgmma, wgmma_text,
                          "the kernel's shared memory could not be granted, or its warp-specialized loop (pipeline "
                          "3) was compiled with under 168 registers a thread, which its warpgroups' split needs"};

// sparse.block_skip runs fp32 on CUDA cores (attn.fa2's tiles) and tf32/fp16/bf16 on mma.sync.
const SparseKernel& block_skip_kernel(const Problem& p) { return p.dtype == DType::fp32 ? kFa2 : kMma; }

// The first compiled tile of `k` for the case's element type and head dim that its tile
// parameters ask for and whose block_m and block_n divide the mask's block.
std::optional<AttentionTile> sparse_tile(const SparseKernel& k, const Problem& p, const Params& params) {
  for (const AttentionTile& t : k.configs())
    if (t.elem == kernel_elem(p.dtype) && t.head_dim == p.head_dim && tile_matches(t, params) &&
        sparse_tile_fits(t, static_cast<int>(p.block)))
      return t;
  return std::nullopt;
}

std::string params_text(const Params& params) {
  std::string s;
  for (const auto& [name, value] : params) s += fmt::format("{}{}={}", s.empty() ? "" : " ", name, value);
  return s;
}

// What a sparse GPU variant cannot run: no compiled tile that fits the mask's block, more shared
// memory than the device grants, grid limits.
std::optional<std::string> sparse_limits(const SparseKernel& k, const Problem& p, const Params& params,
                                         const DeviceCaps& caps) {
  const auto tile = sparse_tile(k, p, params);
  if (!tile)
    return fmt::format(
        "no tile of {} for {} head_dim {} with {} whose block_m and block_n divide the mask's block {} ({})", k.name,
        to_string(p.dtype), p.head_dim, params_text(params), p.block, k.text());
  if (tile->smem_bytes > caps.smem_per_block_optin)
    return fmt::format("needs {} bytes of shared memory, the device grants {}", tile->smem_bytes,
                       caps.smem_per_block_optin);
  if (p.heads > 65535 || p.batch > 65535) return std::string("heads or batch > 65535 (grid.y/z)");
  return std::nullopt;
}

std::optional<std::string> needs_mma_sync(const DeviceCaps& caps) {
  if (caps.available && caps.cc_major < 8)
    return fmt::format("mma.sync with bf16/tf32 needs compute capability 8.0, the device has {}.{}", caps.cc_major,
                       caps.cc_minor);
  return std::nullopt;
}

void launch_sparse(const SparseKernel& k, const char* variant, const LaunchArgs& la) {
  const Problem& p = la.problem;
  const AttentionTile tile = *sparse_tile(k, p, la.params);
  if (!k.launch(attention_args(p, la.tensors), sparse_block_args(p, la.tensors), tile, la.stream))
    throw std::runtime_error(std::string(variant) + ": " + k.refused);
}

std::vector<TunableParam> sparse_tile_params(std::vector<std::int64_t> block_m, std::vector<std::int64_t> block_n) {
  return {{"block_m", 0, std::move(block_m),
           "query rows per block (0: the first compiled for the dtype and head dim that divides the mask's block)"},
          {"block_n", 0, std::move(block_n), "key rows per tile (0: the first compiled that divides the mask's block)"}};
}

// sparse.wgmma's tiles and its loop: pipeline 1 is attn.wgmma's loop (the block's threads load,
// then compute), 3 the warp-specialized persistent one (attention_wgmma_ws.cuh).
std::vector<TunableParam> wgmma_params() {
  std::vector<TunableParam> params = sparse_tile_params({0, 64, 128}, {0, 64, 128});
  params.push_back({"pipeline", 0, {0, 1, 3},
                    "1: the block's threads load each step's K and V, then compute it; 3: a producer warpgroup "
                    "loads while two consumer warpgroups compute, one block an SM walking query tiles "
                    "(warp-specialized, persistent, block_m 128); 0: the first compiled that fits"});
  return params;
}

}  // namespace

void register_sparse_attention_variants(Registry& r) {
  r.add(Variant{"sparse.cpu_reference", OpKind::sparse_attention, Backend::cpu,
                "the CPU reference (double accumulation) over each row's kept keys, single-threaded",
                {DType::fp32, DType::fp16, DType::bf16}, {}, {},
                "host memory; O(seq_k) scratch per row; at most 2^28 kept scores x head_dim", cpu_reference_limit,
                nullptr, sparse_cpu_reference});
  r.add(Variant{
      "sparse.masked", OpKind::sparse_attention, Backend::gpu,
      "attn.fa2_mma's loop over every key tile, each score kept or dropped from the block mask element by "
      "element (empty blocks computed, then dropped): seed 000's mask-pointer baseline",
      {DType::fp16, DType::bf16}, {64, 128}, sparse_tile_params({0, 64}, {0, 64}),
      masked_text() + "; block_m and block_n divide the mask's block; no workspace",
      [](const Problem& p, const Params& params, const DeviceCaps& caps) -> std::optional<std::string> {
        if (auto e = needs_mma_sync(caps)) return e;
        return sparse_limits(kMasked, p, params, caps);
      },
      nullptr, [](const LaunchArgs& la) { launch_sparse(kMasked, "sparse.masked", la); }});
  r.add(Variant{
      "sparse.block_skip", OpKind::sparse_attention, Backend::gpu,
      "per query tile the list of its non-empty key blocks only: empty blocks cost nothing, full blocks no mask "
      "arithmetic, partial blocks a byte tile; mma.sync tiles (tf32, fp16, bf16), fp32 on CUDA cores (attn.fa2)",
      {DType::fp32, DType::tf32, DType::fp16, DType::bf16}, {64, 128, 256}, sparse_tile_params({0, 64, 128}, {0, 32, 64}),
      mma_text() + "; " + fa2_text() +
          "; block_m and block_n divide the mask's block; no workspace",
      [](const Problem& p, const Params& params, const DeviceCaps& caps) -> std::optional<std::string> {
        if (p.dtype != DType::fp32)
          if (auto e = needs_mma_sync(caps)) return e;
        return sparse_limits(block_skip_kernel(p), p, params, caps);
      },
      nullptr, [](const LaunchArgs& la) { launch_sparse(block_skip_kernel(la.problem), "sparse.block_skip", la); }});
  r.add(Variant{
      "sparse.wgmma", OpKind::sparse_attention, Backend::gpu,
      "sparse.block_skip's lists on Hopper's warpgroup MMA (attn.wgmma's tiles, sm_90a): the next key blocks read "
      "ahead of their loads, full blocks run the dense tile",
      {DType::fp16, DType::bf16}, {64, 128}, wgmma_params(),
      wgmma_text() + "; block_m and block_n divide the mask's block; no workspace",
      [](const Problem& p, const Params& params, const DeviceCaps& caps) -> std::optional<std::string> {
        if (!attention_wgmma_compiled())
          return std::string("this build has no sm_90a code (configure with CMAKE_CUDA_ARCHITECTURES=90a)");
        if (caps.available && (caps.cc_major != 9 || caps.cc_minor != 0))
          return fmt::format("wgmma needs compute capability 9.0 (sm_90a), the device has {}.{}", caps.cc_major,
                             caps.cc_minor);
        return sparse_limits(kWgmma, p, params, caps);
      },
      nullptr, [](const LaunchArgs& la) { launch_sparse(kWgmma, "sparse.wgmma", la); }});
}

}  // namespace fabench

// Registered attention-backward variants (op attention_bwd): the CPU reference, and the kernels of
// kernels/attention_bwd/ (bwd.naive, bwd.fa2, bwd.fa2_mma with its deterministic option, bwd.wgmma
// on Hopper).
#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/op_tensors.hpp"
#include "core/variant.hpp"
#include "kernels/attention_bwd/attention_bwd_mma.h"
#include "kernels/attention_bwd/attention_bwd_wgmma.h"
#include "ops/attention_bwd.hpp"
#include "ops/attention_shape.hpp"
#include "ops/registry.hpp"
#include "variants/kernel_args.hpp"
#include "variants/register.hpp"

namespace fabench {

namespace {

// The single-threaded reference does about 5 multiply-adds per score and head-dim element (two
// dot products, three updates) at about 10^9 a second: cases above 2^26 scores x head_dim (about
// 0.3 s a launch) are left to the GPU variants.
constexpr double kCpuReferenceLimit = double(std::int64_t{1} << 26);

std::optional<std::string> cpu_reference_limit(const Problem& p, const Params&, const DeviceCaps&) {
  const double scores_x_d = attention_forward_flops(p) / 4.0;  // kept scores x head_dim, every batch and head
  if (scores_x_d > kCpuReferenceLimit)
    return std::string("more than 2^26 scores x head_dim, the CPU reference's limit (tenths of a second a launch); "
                       "a GPU variant runs it");
  return std::nullopt;
}

// The CPU reference as a timed variant, single-threaded: the stored inputs decoded, every
// gradient in double in one pass over the visible (query, key) pairs, stored in the dtype.
void bwd_cpu_reference(const LaunchArgs& la) {
  namespace T = attention_bwd_tensors;
  const Problem& p = la.problem;
  const std::vector<TensorSpec> specs = op_tensors(p);
  auto decode = [&](std::size_t index) {
    std::vector<float> out(specs[index].count);
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = load_float(la.tensors[index], specs[index].type, i);
    return out;
  };
  const auto q = decode(T::q), k = decode(T::k), v = decode(T::v), o = decode(T::o), d_o = decode(T::d_o),
             lse = decode(T::lse);
  std::vector<double> delta;
  const auto in = attention_bwd_inputs(p, q.data(), k.data(), v.data(), o.data(), d_o.data(), lse.data(), delta);
  std::vector<double> dq(specs[T::dq].count), dk(specs[T::dk].count), dv(specs[T::dv].count);
  attention_bwd_reference(p, in, dq.data(), dk.data(), dv.data());
  auto store = [&](std::size_t index, const std::vector<double>& values) {
    for (std::size_t i = 0; i < values.size(); ++i)
      store_float(la.tensors[index], specs[index].type, i, static_cast<float>(values[i]));
  };
  store(T::dq, dq);
  store(T::dk, dk);
  store(T::dv, dv);
}

constexpr std::int64_t kMaxGridDim = 65535;  // grid.y and grid.z

// bwd.naive's GEMM grids: batch * heads (query-head GEMMs) and batch * kv_heads on grid.z, 16-row
// tiles of seq_q and seq_k on grid.y.
std::optional<std::string> naive_limits(const Problem& p, const Params&, const DeviceCaps&) {
  if (p.batch * p.heads > kMaxGridDim) return fmt::format("batch*heads {} > 65535 (grid.z limit)", p.batch * p.heads);
  if ((std::max(p.seq_q, p.seq_k) + 15) / 16 > kMaxGridDim)
    return fmt::format("seq {} needs more than 65535 row tiles", std::max(p.seq_q, p.seq_k));
  return std::nullopt;
}

std::optional<std::string> fa2_limits(const Problem& p, const Params&, const DeviceCaps& caps) {
  if (p.batch * p.kv_heads > kMaxGridDim)
    return fmt::format("batch*kv_heads {} > 65535 (grid.y limit)", p.batch * p.kv_heads);
  const std::size_t smem = attention_bwd_fa2_smem_bytes(p.head_dim);
  if (smem > caps.smem_per_block_optin)
    return fmt::format("needs {} bytes of shared memory, the device grants {}", smem, caps.smem_per_block_optin);
  return std::nullopt;
}

AttentionBwdArgs args_for_sizing(const Problem& p) {
  return attention_bwd_args(p, std::vector<void*>(attention_bwd_tensors::count));
}

std::optional<std::string> mma_limits(const Problem& p, const Params&, const DeviceCaps& caps) {
  if (p.batch * p.kv_heads > kMaxGridDim)
    return fmt::format("batch*kv_heads {} > 65535 (grid.y limit)", p.batch * p.kv_heads);
  const std::size_t smem = attention_bwd_mma_smem_bytes(args_for_sizing(p));
  if (smem > caps.smem_per_block_optin)
    return fmt::format("needs {} bytes of shared memory, the device grants {}", smem, caps.smem_per_block_optin);
  return std::nullopt;
}

std::string wgmma_configs_text() {
  std::string out = "compiled (head_dim, block_q):";
  for (const auto& [d, br] : attention_bwd_wgmma_configs()) out += fmt::format(" ({}, {})", d, br);
  return out;
}

// bwd.wgmma's pipeline for a case: the one asked for, or by default 2 (warp-specialized) where it
// is compiled (d128, block_q 64), else 1.
std::int64_t wgmma_pipeline(const Problem& p, const Params& params) {
  if (params.at("pipeline") != 0) return params.at("pipeline");
  return p.head_dim == 128 && (params.at("block_q") == 0 || params.at("block_q") == 64) ? 2 : 1;
}

std::optional<std::string> wgmma_limits(const Problem& p, const Params& params, const DeviceCaps& caps) {
  if (!attention_bwd_wgmma_compiled())
    return std::string("this build has no sm_90a code (configure with CMAKE_CUDA_ARCHITECTURES=90a)");
  if (caps.available && (caps.cc_major != 9 || caps.cc_minor != 0))
    return fmt::format("wgmma needs compute capability 9.0 (sm_90a), the device has {}.{}", caps.cc_major,
                       caps.cc_minor);
  if (p.batch * p.kv_heads > kMaxGridDim)
    return fmt::format("batch*kv_heads {} > 65535 (grid.y limit)", p.batch * p.kv_heads);
  if (wgmma_pipeline(p, params) == 2) {
    if (params.at("block_q") != 0 && params.at("block_q") != 64)
      return fmt::format("pipeline=2 runs block_q 64, not {}", params.at("block_q"));
    const std::size_t ws_smem = attention_bwd_wgmma_ws_smem_bytes(args_for_sizing(p));
    if (ws_smem == 0) return fmt::format("pipeline=2 is compiled for head_dim 128 only, not {}", p.head_dim);
    if (ws_smem > caps.smem_per_block_optin)
      return fmt::format("needs {} bytes of shared memory, the device grants {}", ws_smem, caps.smem_per_block_optin);
    return std::nullopt;
  }
  const std::size_t smem = attention_bwd_wgmma_smem_bytes(args_for_sizing(p), static_cast<int>(params.at("block_q")));
  if (smem == 0) return fmt::format("block_q={} is not compiled for head_dim {}; {}", params.at("block_q"), p.head_dim,
                                    wgmma_configs_text());
  if (smem > caps.smem_per_block_optin)
    return fmt::format("needs {} bytes of shared memory, the device grants {}", smem, caps.smem_per_block_optin);
  return std::nullopt;
}

}  // namespace

void register_attention_bwd_variants(Registry& r) {
  r.add(Variant{"bwd.cpu_reference", OpKind::attention_bwd, Backend::cpu,
                "the CPU reference (double accumulation): D = rowsum(dO * O), P from the lse, dV, dP, dS, dQ, dK in "
                "one pass over the visible scores, single-threaded",
                {DType::fp32, DType::fp16, DType::bf16}, {}, {},
                "host memory; dQ, dK, dV held in double; at most 2^26 scores x head_dim", cpu_reference_limit,
                nullptr, bwd_cpu_reference});
  r.add(Variant{"bwd.naive", OpKind::attention_bwd, Backend::gpu,
                "P and dS materialised: D by a warp per row, tiled CUDA-core GEMMs for P = exp(scale QK^T - lse), "
                "dS, dV = P^T dO, dK = dS^T Q, dQ = dS K (7 kernels)",
                {DType::fp32, DType::fp16, DType::bf16}, {}, {},
                "workspace batch*heads*seq_q*seq_k*8 bytes (oom when it does not fit); batch*heads <= 65535",
                naive_limits,
                [](const Problem& p, const Params&) { return attention_bwd_naive_workspace_bytes(args_for_sizing(p)); },
                [](const LaunchArgs& la) {
                  attention_bwd_naive(attention_bwd_args(la.problem, la.tensors), la.workspace, la.stream);
                }});
  r.add(Variant{"bwd.fa2", OpKind::attention_bwd, Backend::gpu,
                "FlashAttention-2's backward in fp32 on CUDA cores: a block per 32 keys of a KV head keeps dK, dV in "
                "registers over every query tile of its group, P recomputed from the lse, dQ by fp32 atomics",
                {DType::fp32}, {64, 128}, {},
                "workspace 4 bytes per query row (D); shared memory 41.7 KiB (d64), 74.5 KiB (d128); "
                "batch*kv_heads <= 65535",
                fa2_limits,
                [](const Problem& p, const Params&) { return attention_bwd_fa2_workspace_bytes(args_for_sizing(p)); },
                [](const LaunchArgs& la) {
                  if (!attention_bwd_fa2(attention_bwd_args(la.problem, la.tensors), la.workspace, la.stream))
                    throw std::runtime_error("bwd.fa2: the kernel's shared memory could not be granted");
                }});
  r.add(Variant{"bwd.fa2_mma", OpKind::attention_bwd, Backend::gpu,
                "FlashAttention-2's backward on tensor cores (mma.sync): a block per 128 keys of a KV head keeps dK, "
                "dV in registers over every query tile of its group; S^T, dP^T and the products from registers; dQ "
                "by fp32 vector atomics, then scaled",
                {DType::fp16, DType::bf16}, {64, 128},
                {{"deterministic", 0, {0, 1},
                  "1: dQ by a second pass over query tiles that recomputes S, P, dP and owns its rows (no atomics, "
                  "the same bits every run); 0: fp32 atomics"}},
                "workspace 4 bytes per query row (D) + 4 * head_dim per query row (the fp32 dQ accumulator, not with "
                "deterministic=1); shared memory 83 KiB (d64), 106.5 KiB (d128); batch*kv_heads <= 65535",
                mma_limits,
                [](const Problem& p, const Params& params) {
                  return attention_bwd_mma_workspace_bytes(args_for_sizing(p), params.at("deterministic") != 0);
                },
                [](const LaunchArgs& la) {
                  if (!attention_bwd_mma(attention_bwd_args(la.problem, la.tensors), la.workspace,
                                         la.params.at("deterministic") != 0, la.stream))
                    throw std::runtime_error("bwd.fa2_mma: the kernel's shared memory could not be granted");
                }});
  r.add(Variant{"bwd.wgmma", OpKind::attention_bwd, Backend::gpu,
                "FlashAttention-2's backward on Hopper's warpgroup MMA (wgmma, sm_90a): a block per 128 keys of a KV "
                "head (a warpgroup per 64) keeps dK, dV in registers over every query tile of its group; S^T, dP^T "
                "from shared memory, dV, dK with P^T, dS^T from registers, dQ = dS K from dS^T in shared memory "
                "read transposed, added into fp32 by vector atomics (pipeline 1) or by the copy engine in a "
                "warp-specialized block whose producer warpgroup loads by TMA (pipeline 2, the default at d128), then "
                "scaled",
                {DType::fp16, DType::bf16}, {64, 128},
                {{"block_q", 0, {0, 64, 128},
                  "query rows a step (0: the first compiled for the head dim: 128 at d64, 64 at d128)"},
                 {"pipeline", 0, {0, 1, 2},
                  "1: every thread loads its share of a step by cp.async and the block meets at a barrier a step, dQ "
                  "by vector atomics; 2 (d128, block_q 64): warp-specialized, a producer warpgroup loads by TMA and "
                  "adds dQ by the copy engine, two consumer warpgroups compute (0: 2 at d128 with block_q 64, else 1)"}},
                "workspace 4 bytes per query row (D) + 4 * head_dim per query row (the fp32 dQ accumulator); "
                "shared memory 131 KiB (d64, block_q 128), 82 KiB (d64, 64), 146 KiB (d128, 64), 194 KiB (d128, pipeline 2); "
                "batch*kv_heads <= 65535; " + wgmma_configs_text(),
                wgmma_limits,
                [](const Problem& p, const Params&) { return attention_bwd_wgmma_workspace_bytes(args_for_sizing(p)); },
                [](const LaunchArgs& la) {
                  const AttentionBwdArgs args = attention_bwd_args(la.problem, la.tensors);
                  const bool ran = wgmma_pipeline(la.problem, la.params) == 2
                                       ? attention_bwd_wgmma_ws(args, la.workspace, la.stream)
                                       : attention_bwd_wgmma(args, static_cast<int>(la.params.at("block_q")),
                                                             la.workspace, la.stream);
                  if (!ran)  // pipeline 2 also needs its register split and tensor maps
                    throw std::runtime_error(
                        "bwd.wgmma: the kernel could not be launched (shared memory, registers or tensor maps refused)");
                }});
}

}  // namespace fabench

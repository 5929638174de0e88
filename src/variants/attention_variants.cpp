// Registered attention-forward variants. Each wraps a launcher from kernels/attention/ or kernels/cpu/.
#include <fmt/format.h>

#include <stdexcept>
#include <vector>

#include "core/op_tensors.hpp"
#include "core/variant.hpp"
#include "ops/registry.hpp"
#include "reference/attention_reference.hpp"
#include "run/cublas.hpp"
#include "variants/attention_tiles.hpp"
#include "variants/kernel_args.hpp"
#include "variants/register.hpp"

namespace fabench {

namespace {

// The CPU reference as a timed variant, single-threaded.
void attention_cpu_reference(const LaunchArgs& la) {
  const Problem& p = la.problem;
  const ElemType et = storage_type(p.dtype);
  auto decode = [&](std::size_t index) {
    std::size_t n = op_tensors(p)[index].count;
    std::vector<float> out(n);
    for (std::size_t i = 0; i < n; ++i) out[i] = load_float(la.tensors[index], et, i);
    return out;
  };
  const auto q = decode(attention_tensors::q), k = decode(attention_tensors::k), v = decode(attention_tensors::v);
  auto* lse = static_cast<float*>(la.tensors[attention_tensors::lse]);
  std::vector<double> o_row(static_cast<std::size_t>(p.head_dim));
  for (std::int64_t b = 0; b < p.batch; ++b)
    for (std::int64_t h = 0; h < p.heads; ++h)
      for (std::int64_t i = 0; i < p.seq_q; ++i) {
        double row_lse = 0;
        attention_reference_row(p, q.data(), k.data(), v.data(), b, h, i, o_row.data(), &row_lse);
        const std::int64_t row = (b * p.heads + h) * p.seq_q + i;
        for (std::int64_t c = 0; c < p.head_dim; ++c)
          store_float(la.tensors[attention_tensors::o], et, static_cast<std::size_t>(row * p.head_dim + c),
                      static_cast<float>(o_row[c]));
        lse[row] = static_cast<float>(row_lse);
      }
}

std::optional<std::string> naive_grid_limits(const Problem& p, const Params& params, const DeviceCaps&) {
  const std::int64_t tile = params.at("tile");
  if (p.batch * p.heads > 65535) return fmt::format("batch*heads {} > 65535 (grid.z limit)", p.batch * p.heads);
  if ((p.seq_q + tile - 1) / tile > 65535) return fmt::format("seq_q {} needs more than 65535 row tiles", p.seq_q);
  return std::nullopt;
}

// The first tile of `configs` for the case's element type and head dim that tile_matches.
std::optional<AttentionTile> find_tile(const std::vector<AttentionTile>& configs, const Problem& p,
                                       const Params& params) {
  for (const AttentionTile& t : configs)
    if (t.elem == kernel_elem(p.dtype) && t.tf32x3 == (p.dtype == DType::fp32) && t.head_dim == p.head_dim &&
        tile_matches(t, params))
      return t;
  return std::nullopt;
}

// The compiled tile lists, built once: tiles are looked up on every support check and launch.
const std::vector<AttentionTile>& fa2_configs() {
  static const std::vector<AttentionTile> configs = attention_fa2_configs();
  return configs;
}

// attn.fa2's tile (fp32 only, on CUDA cores): the first compiled for the head dim that tile_matches.
std::optional<AttentionTile> fa2_tile(const Problem& p, const Params& params) {
  for (const AttentionTile& t : fa2_configs())
    if (t.head_dim == p.head_dim && tile_matches(t, params)) return t;
  return std::nullopt;
}

std::string fa2_configs_text() {
  std::string s = "compiled (head_dim, block_m, block_n, warps, shared KiB):";
  for (const AttentionTile& t : fa2_configs())
    s += fmt::format(" ({}, {}, {}, {}, {:.0f})", t.head_dim, t.block_m, t.block_n, t.warps, t.smem_bytes / 1024.0);
  return s;
}

const std::vector<AttentionTile>& mma_configs() {
  static const std::vector<AttentionTile> configs = attention_fa2_mma_configs();
  return configs;
}
const std::vector<AttentionTile>& wgmma_configs() {
  static const std::vector<AttentionTile> configs = attention_wgmma_configs();
  return configs;
}

std::string mma_configs_text() { return tiles_text(mma_configs(), true); }
std::optional<AttentionTile> wgmma_tile(const Problem& p, const Params& params) {
  return find_tile(wgmma_configs(), p, params);
}
std::string wgmma_configs_text() { return tiles_text(wgmma_configs(), false); }

// What a tiled tensor-core variant cannot run: no such tile, more shared memory than the device
// grants, or grid limits. params_text() and configs_text() shape the refusal and are only called
// for one (support is checked for every case of a sweep).
template <class ParamsText, class ConfigsText>
std::optional<std::string> tile_limits(const std::optional<AttentionTile>& tile, const Problem& p,
                                       const DeviceCaps& caps, ParamsText params_text, ConfigsText configs_text) {
  if (!tile)
    return fmt::format("{} not compiled for {} head_dim {} ({})", params_text(), to_string(p.dtype), p.head_dim,
                       configs_text());
  if (tile->smem_bytes > caps.smem_per_block_optin)
    return fmt::format("needs {} bytes of shared memory, the device grants {}", tile->smem_bytes,
                       caps.smem_per_block_optin);
  if (p.heads > 65535 || p.batch > 65535) return std::string("heads or batch > 65535 (grid.y/z)");
  return std::nullopt;
}

// attn.cublas: what a framework's unfused path runs. S = scale * Q K^T and O = P V are cuBLAS
// strided-batched GEMMs (TF32 math for tf32, fp32 accumulation for fp16/bf16), S is stored in the
// input type, and a softmax kernel turns it into P in place. GQA: one GEMM pair per query head of
// a KV group, each batched over (batch, kv_head), so K and V are never copied.
void attention_cublas(const LaunchArgs& la) {
  const Problem& p = la.problem;
  const AttentionArgs a = attention_args(p, la.tensors);
  cublasHandle_t handle = cublas_handle(la.stream);
  const cudaDataType_t dt = cublas_data_type(p.dtype);
  const cublasComputeType_t ct = cublas_compute_type(p.dtype);
  const std::size_t es = elem_size(storage_type(p.dtype));
  const std::int64_t group = p.heads / p.kv_heads, d = p.head_dim;
  const int batches = static_cast<int>(p.batch * p.kv_heads);
  const float scale = a.scale, one = 1.0f, zero = 0.0f;
  auto* s = static_cast<unsigned char*>(la.workspace);
  for (std::int64_t g = 0; g < group; ++g) {
    const auto* q = static_cast<const unsigned char*>(a.q) + g * p.seq_q * d * es;
    auto* s_g = s + g * p.seq_q * p.seq_k * es;
    // Row-major S = Q K^T is column-major S^T = K Q^T: m = seq_k, n = seq_q, k = d.
    check_cublas(cublasGemmStridedBatchedEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(p.seq_k),
                                            static_cast<int>(p.seq_q), static_cast<int>(d), &scale, a.k, dt,
                                            static_cast<int>(d), p.seq_k * d, q, dt, static_cast<int>(d),
                                            group * p.seq_q * d, &zero, s_g, dt, static_cast<int>(p.seq_k),
                                            group * p.seq_q * p.seq_k, batches, ct, CUBLAS_GEMM_DEFAULT),
                 "attn.cublas S = Q K^T");
  }
  attention_softmax_rows(a, s, la.stream);
  for (std::int64_t g = 0; g < group; ++g) {
    const auto* s_g = s + g * p.seq_q * p.seq_k * es;
    auto* o = static_cast<unsigned char*>(a.o) + g * p.seq_q * d * es;
    // Row-major O = P V is column-major O^T = V^T P^T: m = d, n = seq_q, k = seq_k.
    check_cublas(cublasGemmStridedBatchedEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(d),
                                            static_cast<int>(p.seq_q), static_cast<int>(p.seq_k), &one, a.v, dt,
                                            static_cast<int>(d), p.seq_k * d, s_g, dt, static_cast<int>(p.seq_k),
                                            group * p.seq_q * p.seq_k, &zero, o, dt, static_cast<int>(d),
                                            group * p.seq_q * d, batches, ct, CUBLAS_GEMM_DEFAULT),
                 "attn.cublas O = P V");
  }
}

}  // namespace

// d128 in fp16/bf16, non-causal from seq 2048, runs 256 x 64 over 8 warps: one block an SM
// sharing each K/V tile among twice the rows, and free of the spills of 128 x 64 at 4 warps.
// Against 128 x 64 (24b8e11, same run): seq 2048 equal (340-347 TFLOP/s both), 4096 +1-3%, 8192
// +3-4%, 16384 +3-5%. Causal runs the first compiled tile, 128 x 64 over 4 warps: since the last
// heads' tiles are interleaved (attention_order.h) it leads 64 x 64, the causal choice before, by
// 5-9% at seq 2048-16384 (H100, 249ccc7, bf16 302-352 TFLOP/s against 283-323) and 256 x 64 by
// 0-5%; before, 64 x 64 led 128 x 64 (281 / 320 against 271 / 308 at seq 2048 / 8192).
std::optional<AttentionTile> attention_fa2_mma_tile(const Problem& p, const Params& params) {
  const bool chosen = param_or_zero(params, "block_m") == 0 && param_or_zero(params, "block_n") == 0 &&
                      param_or_zero(params, "warps") == 0 && param_or_zero(params, "stages") == 0;
  if (chosen && p.head_dim == 128 && (p.dtype == DType::fp16 || p.dtype == DType::bf16) && !p.causal &&
      p.seq_q >= 2048) {
    Params tuned = params;
    tuned["block_m"] = 256;
    if (auto tile = find_tile(mma_configs(), p, tuned)) return tile;
  }
  return find_tile(mma_configs(), p, params);
}

void register_attention_variants(Registry& r) {
  const std::vector<DType> all_float = {DType::fp32, DType::fp16, DType::bf16};
  r.add(Variant{"attn.cpu_reference", OpKind::attention, Backend::cpu,
                "the CPU reference (double accumulation), single-threaded", all_float, {}, {},
                "host memory; O(seq_k) scratch per row", nullptr, nullptr, attention_cpu_reference});
  r.add(Variant{
      "attn.cpu_flash2", OpKind::attention, Backend::cpu,
      "FlashAttention-2 Algorithm 1 on the CPU: Br x Bc tiles, online softmax, fp32, single-threaded",
      {DType::fp32}, {},
      {{"block_m", 32, {8, 16, 32, 64, 128}, "Br: query rows per tile"},
       {"block_n", 32, {8, 16, 32, 64, 128}, "Bc: key rows per tile"}},
      "scratch Br*d + Br*Bc + 2*Br floats, independent of seq", nullptr, nullptr,
      [](const LaunchArgs& la) {
        flash2_cpu(cpu_attention_args(la.problem, la.tensors), static_cast<int>(la.params.at("block_m")),
                   static_cast<int>(la.params.at("block_n")));
      }});
  r.add(Variant{
      "attn.fa1", OpKind::attention, Backend::gpu,
      "FlashAttention-1 Algorithm 1, fp32: K/V blocks outer, Q blocks inner, O, m, l in device memory between blocks",
      {DType::fp32}, {32, 64}, {},
      "Br = Bc = 32; one block per (batch, head); workspace 8 bytes per query row (m, l)",
      [](const Problem& p, const Params&, const DeviceCaps&) -> std::optional<std::string> {
        if (p.batch * p.heads > (std::int64_t{1} << 31) - 1) return std::string("batch*heads >= 2^31");
        return std::nullopt;
      },
      [](const Problem& p, const Params&) {
        return attention_fa1_workspace_bytes(attention_args(p, std::vector<void*>(attention_tensors::count)));
      },
      [](const LaunchArgs& la) {
        if (!attention_fa1(attention_args(la.problem, la.tensors), la.workspace, la.stream))
          throw std::runtime_error("attn.fa1: head_dim not compiled");
      }});
  r.add(Variant{
      "attn.fa2", OpKind::attention, Backend::gpu,
      "FlashAttention-2 Algorithm 1, fp32 on CUDA cores: Q tile per block, K/V tiles streamed, online softmax in "
      "registers, 4 x 4 or 8 x 4 register blocks per thread",
      {DType::fp32}, {32, 64, 128, 256},
      {{"block_m", 0, {0, 64, 128}, "query rows per block (0: the first compiled for the head dim)"},
       {"block_n", 0, {0, 64}, "key rows per tile (0: the first compiled for the head dim)"},
       {"warps", 0, {0, 4, 8},
        "warps per block; a thread holds block_m / (2 x warps) query rows, 4 or 8 (0: the first compiled)"}},
      fa2_configs_text() + "; no memory beyond inputs and outputs",
      [](const Problem& p, const Params& params, const DeviceCaps& caps) -> std::optional<std::string> {
        auto tile = fa2_tile(p, params);
        if (!tile)
          return fmt::format("block_m={} block_n={} warps={} not compiled for head_dim {} ({})", params.at("block_m"),
                             params.at("block_n"), params.at("warps"), p.head_dim, fa2_configs_text());
        if (tile->smem_bytes > caps.smem_per_block_optin)
          return fmt::format("needs {} bytes of shared memory, the device grants {}", tile->smem_bytes,
                             caps.smem_per_block_optin);
        if (p.heads > 65535 || p.batch > 65535) return std::string("heads or batch > 65535 (grid.y/z)");
        return std::nullopt;
      },
      nullptr,
      [](const LaunchArgs& la) {
        const AttentionTile tile = *fa2_tile(la.problem, la.params);
        if (!attention_fa2(attention_args(la.problem, la.tensors), tile, la.stream))
          throw std::runtime_error("attn.fa2: the kernel's shared memory could not be granted");
      }});
  r.add(Variant{
      "attn.cublas", OpKind::attention, Backend::gpu,
      "the framework path: cuBLAS batched GEMM for S = scale QK^T, a softmax kernel (mask, lse), cuBLAS for PV",
      {DType::fp32, DType::tf32, DType::fp16, DType::bf16}, {}, {},
      "workspace batch*heads*seq_q*seq_k elements of the dtype (S, then P in place); seq and d < 2^31",
      [](const Problem& p, const Params&, const DeviceCaps&) -> std::optional<std::string> {
        if (p.batch * p.kv_heads > (std::int64_t{1} << 31) - 1) return std::string("batch*kv_heads >= 2^31");
        if (p.seq_k * p.head_dim >= (std::int64_t{1} << 31)) return std::string("seq_k*head_dim >= 2^31");
        return std::nullopt;
      },
      [](const Problem& p, const Params&) {
        return static_cast<std::size_t>(p.batch * p.heads * p.seq_q * p.seq_k) * elem_size(storage_type(p.dtype));
      },
      attention_cublas});
  r.add(Variant{
      "attn.fa2_mma",  OpKind::attention, Backend::gpu,
      "FlashAttention-2 on tensor cores: mma.sync, ldmatrix, cp.async, swizzled shared memory; S and P in registers; "
      "fp32 by 3xTF32",
      {DType::fp32, DType::tf32, DType::fp16, DType::bf16}, {64, 128, 256},
      {{"block_m", 0, {0, 64, 128, 256},
        "query rows per block (0: chosen; d128 fp16/bf16: 256 non-causal from seq_q 2048; else the first compiled "
        "for the dtype and head dim)"},
       {"block_n", 0, {0, 32, 64}, "key rows per tile (0: the first compiled)"},
       {"warps", 0, {0, 4, 8}, "warps per block (0: the first compiled)"},
       {"stages", 0, {0, 1, 2}, "K/V buffers: 1 as FlashAttention-2, 2 fetches a whole tile ahead (0: the first compiled)"}},
      mma_configs_text() +
          "; persistent (non-causal, 16-bit, d >= 128): a workspace of one flag and one fp32 partial O per block "
          "when the last items' keys are split",
      [](const Problem& p, const Params& params, const DeviceCaps& caps) -> std::optional<std::string> {
        if (caps.available && caps.cc_major < 8)
          return fmt::format("mma.sync with bf16/tf32 needs compute capability 8.0, the device has {}.{}",
                             caps.cc_major, caps.cc_minor);
        return tile_limits(
            attention_fa2_mma_tile(p, params), p, caps,
            [&] {
              return fmt::format("block_m={} block_n={} warps={} stages={}", params.at("block_m"),
                                 params.at("block_n"), params.at("warps"), params.at("stages"));
            },
            mma_configs_text);
      },
      [](const Problem& p, const Params& params) -> std::size_t {
        const auto tile = attention_fa2_mma_tile(p, params);
        if (!tile) return 0;
        return attention_fa2_mma_workspace_bytes(attention_args(p, std::vector<void*>(attention_tensors::count)), *tile);
      },
      [](const LaunchArgs& la) {
        const AttentionTile tile = *attention_fa2_mma_tile(la.problem, la.params);
        if (!attention_fa2_mma(attention_args(la.problem, la.tensors), tile, la.workspace, la.stream))
          throw std::runtime_error("attn.fa2_mma: the kernel's shared memory could not be granted");
      }});
  r.add(Variant{
      "attn.wgmma", OpKind::attention, Backend::gpu,
      "FlashAttention-2 on Hopper's warpgroup MMA (wgmma, sm_90a): a warpgroup per 64 query rows, Q/K/V read "
      "by the tensor cores from 128-byte-swizzled shared memory, P from registers",
      {DType::fp16, DType::bf16}, {64, 128, 256},
      {{"block_m", 0, {0, 64, 128, 192}, "query rows per block, 64 per warpgroup (0: the first compiled)"},
       {"block_n", 0, {0, 64, 128}, "key rows per tile (0: the first compiled for the dtype and head dim)"},
       {"pipeline", 0, {0, 1, 2, 3},
        "score tiles in flight per warpgroup: 1 runs S, softmax, P V in turn; 2 overlaps the softmax of tile j+1 "
        "with P V of tile j (FlashAttention-3); 3 is warp-specialized and persistent (a producer warpgroup loads "
        "by TMA, two consumer warpgroups overlap as 2 does; d128, 128 x 128) (0: the first compiled: 3 at d128, 1 "
        "elsewhere)"}},
      wgmma_configs_text() + "; K and V double-buffered; no memory beyond inputs and outputs",
      [](const Problem& p, const Params& params, const DeviceCaps& caps) -> std::optional<std::string> {
        if (!attention_wgmma_compiled())
          return std::string("this build has no sm_90a code (configure with CMAKE_CUDA_ARCHITECTURES=90a)");
        if (caps.available && (caps.cc_major != 9 || caps.cc_minor != 0))
          return fmt::format("wgmma needs compute capability 9.0 (sm_90a), the device has {}.{}", caps.cc_major,
                             caps.cc_minor);
        return tile_limits(
            wgmma_tile(p, params), p, caps,
            [&] {
              return fmt::format("block_m={} block_n={} pipeline={}", params.at("block_m"), params.at("block_n"),
                                 params.at("pipeline"));
            },
            wgmma_configs_text);
      },
      nullptr,
      [](const LaunchArgs& la) {
        const AttentionTile tile = *wgmma_tile(la.problem, la.params);
        if (!attention_wgmma(attention_args(la.problem, la.tensors), tile, la.stream))
          throw std::runtime_error("attn.wgmma: the kernel's shared memory could not be granted");
      }});
  r.add(Variant{
      "attn.naive", OpKind::attention, Backend::gpu,
      "S = QK^T materialised: tiled GEMM-NT, scale+mask, warp-per-row softmax, tiled GEMM-NN (4 kernels)",
      all_float, {}, {{"tile", 16, {16, 32}, "GEMM tile edge (tile x tile threads)"}},
      "workspace batch*heads*seq_q*seq_k*4 bytes (oom when it does not fit); batch*heads <= 65535",
      naive_grid_limits,
      [](const Problem& p, const Params&) {
        return attention_naive_workspace_bytes(attention_args(p, std::vector<void*>(attention_tensors::count)));
      },
      [](const LaunchArgs& la) {
        attention_naive(attention_args(la.problem, la.tensors), la.workspace, static_cast<int>(la.params.at("tile")),
                        la.stream);
      }});
}

}  // namespace fabench

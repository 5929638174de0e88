// The generate op's variant (ops/generate.cpp): seed 001 task 6's loop on this build's kernels.
//
// generate.loop, per launch:
//   setup (before any event): the prompt lengths uploaded, the step counter zeroed, cuBLAS bound to
//     a workspace of ours, and with graph=1 one decode step captured into a CUDA graph.
//   prefill (TTFT, between the first two events): Q, K, V of the prompt by cuBLAS strided-batched
//     GEMMs straight into [batch, heads, P, d] (one GEMM a head, batched); causal attention by
//     attn.wgmma's first compiled tile for the dtype and head dim (attn.fa2_mma's chosen tile where
//     this build or device has no sm_90a); K and V copied into the cache by kv_append (q_len = P);
//     the output turned to [batch, P, heads * d] and projected by one GEMM; the last prompt
//     token's row copied to y_first.
//   T steps: generate_step_begin (the step's embedding into a fixed buffer, the lengths, the
//     counter), q, k, v GEMMs of one token per sequence, kv_append, decode_split (version
//     decode_version, planned once for the final length P + T and kept for every step), the
//     output GEMM. The loop waits for each step (cudaEventSynchronize on its end event) before
//     launching the next, as a server streaming each token must; TBT of step i is the interval
//     between the end events of steps i - 1 and i (the prefill's end for the first), so host
//     launch cost and the wait are in it. graph=1 replays the captured step instead: the same
//     kernels in one launch, which is why the step reads its index and lengths from device memory.
#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <vector>

#include "core/op_tensors.hpp"
#include "core/variant.hpp"
#include "kernels/attention/attention.h"
#include "kernels/decode/decode.h"
#include "kernels/generate/generate.h"
#include "ops/generate.hpp"
#include "run/cublas.hpp"
#include "run/device.hpp"
#include "variants/attention_tiles.hpp"
#include "variants/kernel_args.hpp"
#include "variants/register.hpp"

namespace fabench {

namespace {

namespace gt = generate_tensors;

constexpr std::size_t kCublasWorkspace = 32u << 20;  // cuBLAS's recommendation for Hopper

struct DeviceCc {
  int major = 0, minor = 0;
};
DeviceCc current_cc() {
  int dev = 0;
  DeviceCc cc;
  if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&cc.major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&cc.minor, cudaDevAttrComputeCapabilityMinor, dev) != cudaSuccess) {
    cudaGetLastError();
    return {};
  }
  return cc;
}

// The prompt's attention as an attention Problem (for the tile choice and the arguments).
Problem prompt_attention(const Problem& p) {
  Problem a = p;
  a.op = OpKind::attention;
  a.seq_q = a.seq_k = p.prompt_len;
  a.causal = true;
  return a;
}

// The prefill's attention kernel: attn.wgmma's first compiled tile on sm_90a, else attn.fa2_mma's choice.
struct PrefillKernel {
  bool wgmma = false;
  AttentionTile tile{};
};
std::optional<PrefillKernel> prefill_kernel(const Problem& p, int cc_major, int cc_minor) {
  if (attention_wgmma_compiled() && cc_major == 9 && cc_minor == 0)
    for (const AttentionTile& t : attention_wgmma_configs())
      if (t.elem == kernel_elem(p.dtype) && t.head_dim == p.head_dim) return PrefillKernel{true, t};
  if (auto t = attention_fa2_mma_tile(prompt_attention(p), Params{})) return PrefillKernel{false, *t};
  return std::nullopt;
}

AttentionArgs prefill_args(const Problem& p, const void* q, const void* k, const void* v, void* o, float* lse) {
  AttentionArgs a;
  a.q = q;
  a.k = k;
  a.v = v;
  a.o = o;
  a.lse = lse;
  a.batch = p.batch;
  a.heads = p.heads;
  a.kv_heads = p.kv_heads;
  a.seq_q = a.seq_k = p.prompt_len;
  a.head_dim = p.head_dim;
  a.causal = true;
  a.scale = static_cast<float>(p.effective_scale());
  a.elem = kernel_elem(p.dtype);
  return a;
}

DecodeArgs decode_args(const Problem& p) {
  DecodeArgs a;
  a.batch = p.batch;
  a.heads = p.heads;
  a.kv_heads = p.kv_heads;
  a.q_len = 1;
  a.max_len = p.prompt_len + p.steps;
  a.longest = a.max_len;  // the plan is made for the final length and kept for every step
  a.head_dim = p.head_dim;
  a.page_size = static_cast<int>(p.page_size);
  a.scale = static_cast<float>(p.effective_scale());
  a.elem = kernel_elem(p.dtype);
  return a;
}

DecodeSplitPlan step_plan(const Problem& p, const Params& params) {
  return decode_split_plan(decode_args(p), static_cast<int>(params.at("decode_version")), current_device_sm_count(), 0);
}

// The workspace, carved in 256-byte-aligned pieces.
struct Layout {
  std::size_t q, k, v, o, o_rows, lse, y, x_cur, k_new, v_new, lengths, prompt_lengths, counter, decode, attention,
      cublas, total;
};
Layout layout(const Problem& p, const Params& params) {
  const std::size_t es = elem_size(storage_type(p.dtype));
  const auto B = static_cast<std::size_t>(p.batch), H = static_cast<std::size_t>(p.heads),
             KV = static_cast<std::size_t>(p.kv_heads), d = static_cast<std::size_t>(p.head_dim),
             P = static_cast<std::size_t>(p.prompt_len), M = static_cast<std::size_t>(p.d_model);
  Layout l{};
  std::size_t at = 0;
  auto take = [&](std::size_t bytes) {
    const std::size_t here = at;
    at += (bytes + 255) / 256 * 256;
    return here;
  };
  l.q = take(B * H * P * d * es);
  l.k = take(B * KV * P * d * es);
  l.v = take(B * KV * P * d * es);
  l.o = take(B * H * P * d * es);
  l.o_rows = take(B * P * H * d * es);
  l.lse = take(B * H * P * sizeof(float));
  l.y = take(B * P * M * es);
  l.x_cur = take(B * M * es);
  l.k_new = take(B * KV * d * es);
  l.v_new = take(B * KV * d * es);
  l.lengths = take(B * sizeof(std::int32_t));
  l.prompt_lengths = take(B * sizeof(std::int32_t));
  l.counter = take(sizeof(int));
  l.decode = take(step_plan(p, params).workspace_bytes);
  std::size_t attention_ws = 0;
  const DeviceCc cc = current_cc();
  if (auto k = prefill_kernel(p, cc.major, cc.minor); k && !k->wgmma)
    attention_ws = attention_fa2_mma_workspace_bytes(prefill_args(p, nullptr, nullptr, nullptr, nullptr, nullptr), k->tile);
  l.attention = take(attention_ws);
  l.cublas = take(kCublasWorkspace);
  l.total = at;
  return l;
}

// Row-major C[m x n] = A[m x k] @ B[k x n] (leading dimensions in elements), `count` of them
// `stride_*` elements apart: cuBLAS's column-major C^T = B^T A^T. fp32 accumulation.
void gemm(cublasHandle_t h, DType t, int m, int n, int k, const void* a, int lda, long long stride_a, const void* b,
          int ldb, long long stride_b, void* c, int ldc, long long stride_c, int count, const char* what) {
  const float one = 1.0f, zero = 0.0f;
  const cudaDataType_t dt = cublas_data_type(t);
  if (count == 1)
    check_cublas(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, n, m, k, &one, b, dt, ldb, a, dt, lda, &zero, c, dt, ldc,
                              cublas_compute_type(t), CUBLAS_GEMM_DEFAULT),
                 what);
  else
    check_cublas(cublasGemmStridedBatchedEx(h, CUBLAS_OP_N, CUBLAS_OP_N, n, m, k, &one, b, dt, ldb, stride_b, a, dt,
                                            lda, stride_a, &zero, c, dt, ldc, stride_c, count, cublas_compute_type(t),
                                            CUBLAS_GEMM_DEFAULT),
                 what);
}

struct Events {
  explicit Events(std::size_t n) : ev(n, nullptr) {
    for (auto& e : ev) cuda_check(cudaEventCreate(&e), "cudaEventCreate");
  }
  ~Events() {
    for (auto e : ev)
      if (e) cudaEventDestroy(e);
  }
  float ms(std::size_t from, std::size_t to) const {
    float t = 0;
    cuda_check(cudaEventElapsedTime(&t, ev[from], ev[to]), "cudaEventElapsedTime");
    return t;
  }
  std::vector<cudaEvent_t> ev;
};

struct Graph {
  ~Graph() {
    if (exec) cudaGraphExecDestroy(exec);
    if (graph) cudaGraphDestroy(graph);
  }
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
};

// Where every tensor and workspace piece of a launch lives.
struct Buffers {
  const Problem& p;
  const std::vector<void*>& t;
  unsigned char* ws;
  const Layout& l;
  template <class T = void>
  T* at(std::size_t offset) const {
    return reinterpret_cast<T*>(ws + offset);
  }
};

void prefill(const Buffers& b, const PrefillKernel& kernel, cublasHandle_t h, cudaStream_t s) {
  const Problem& p = b.p;
  const std::size_t es = elem_size(storage_type(p.dtype));
  const int P = static_cast<int>(p.prompt_len), M = static_cast<int>(p.d_model), d = static_cast<int>(p.head_dim);
  const int H = static_cast<int>(p.heads), KV = static_cast<int>(p.kv_heads);
  const auto* x = static_cast<const unsigned char*>(b.t[gt::x_prompt]);
  // One GEMM a head, batched over heads: X_b [P x M] @ W[:, h*d .. h*d + d) -> [b, h, P, d].
  auto project = [&](const void* w, int heads, std::size_t out, const char* what) {
    for (std::int64_t bi = 0; bi < p.batch; ++bi)
      gemm(h, p.dtype, P, d, M, x + bi * P * M * es, M, 0, w, heads * d, d,
           b.at<unsigned char>(out) + bi * heads * P * d * es, d, static_cast<long long>(P) * d, heads, what);
  };
  project(b.t[gt::wq], H, b.l.q, "generate prefill Q");
  project(b.t[gt::wk], KV, b.l.k, "generate prefill K");
  project(b.t[gt::wv], KV, b.l.v, "generate prefill V");
  const AttentionArgs a = prefill_args(p, b.at(b.l.q), b.at(b.l.k), b.at(b.l.v), b.at(b.l.o), b.at<float>(b.l.lse));
  const bool ok = kernel.wgmma ? attention_wgmma(a, kernel.tile, s)
                               : attention_fa2_mma(a, kernel.tile, b.at(b.l.attention), s);
  if (!ok) throw std::runtime_error("generate: the prefill attention kernel could not be launched");
  KvAppendArgs ka;
  ka.k_new = b.at(b.l.k);
  ka.v_new = b.at(b.l.v);
  ka.k_cache = b.t[gt::k_cache];
  ka.v_cache = b.t[gt::v_cache];
  ka.lengths = b.at<std::int32_t>(b.l.prompt_lengths);
  ka.page_table = static_cast<const std::int32_t*>(b.t[gt::page_table]);
  ka.batch = p.batch;
  ka.kv_heads = p.kv_heads;
  ka.q_len = p.prompt_len;
  ka.max_len = p.prompt_len + p.steps;
  ka.head_dim = p.head_dim;
  ka.page_size = static_cast<int>(p.page_size);
  ka.elem = kernel_elem(p.dtype);
  if (!kv_append(ka, s)) throw std::runtime_error("generate: kv_append refused the prompt");
  if (!generate_heads_to_tokens(b.at(b.l.o), b.at(b.l.o_rows), p.batch, p.heads, p.prompt_len, p.head_dim, s))
    throw std::runtime_error("generate: head_dim not a multiple of 8");
  gemm(h, p.dtype, static_cast<int>(p.batch) * P, M, H * d, b.at(b.l.o_rows), H * d, 0, b.t[gt::wo], M, 0,
       b.at(b.l.y), M, 0, 1, "generate prefill output projection");
  // The last prompt token's row of each sequence; its offset in size_t, as (P - 1) * M can pass 2^31.
  const unsigned char* last_row = b.at<unsigned char>(b.l.y) + static_cast<std::size_t>(P - 1) * M * es;
  cuda_check(cudaMemcpy2DAsync(b.t[gt::y_first], M * es, last_row, static_cast<std::size_t>(P) * M * es, M * es,
                               static_cast<std::size_t>(p.batch), cudaMemcpyDeviceToDevice, s),
             "generate y_first");
}

void decode_step(const Buffers& b, const DecodeSplitPlan& plan, cublasHandle_t h, cudaStream_t s) {
  const Problem& p = b.p;
  const std::size_t es = elem_size(storage_type(p.dtype));
  const int B = static_cast<int>(p.batch), M = static_cast<int>(p.d_model);
  const int Hd = static_cast<int>(p.heads * p.head_dim), KVd = static_cast<int>(p.kv_heads * p.head_dim);
  std::int32_t* lengths = b.at<std::int32_t>(b.l.lengths);
  generate_step_begin(b.t[gt::x_steps], b.at(b.l.x_cur), b.at<int>(b.l.counter), lengths, p.batch, p.steps,
                      p.prompt_len, M * es, s);
  gemm(h, p.dtype, B, Hd, M, b.at(b.l.x_cur), M, 0, b.t[gt::wq], Hd, 0, b.t[gt::q_last], Hd, 0, 1, "generate step q");
  gemm(h, p.dtype, B, KVd, M, b.at(b.l.x_cur), M, 0, b.t[gt::wk], KVd, 0, b.at(b.l.k_new), KVd, 0, 1, "generate step k");
  gemm(h, p.dtype, B, KVd, M, b.at(b.l.x_cur), M, 0, b.t[gt::wv], KVd, 0, b.at(b.l.v_new), KVd, 0, 1, "generate step v");
  KvAppendArgs ka;
  ka.k_new = b.at(b.l.k_new);
  ka.v_new = b.at(b.l.v_new);
  ka.k_cache = b.t[gt::k_cache];
  ka.v_cache = b.t[gt::v_cache];
  ka.lengths = lengths;
  ka.page_table = static_cast<const std::int32_t*>(b.t[gt::page_table]);
  ka.batch = p.batch;
  ka.kv_heads = p.kv_heads;
  ka.q_len = 1;
  ka.max_len = p.prompt_len + p.steps;
  ka.head_dim = p.head_dim;
  ka.page_size = static_cast<int>(p.page_size);
  ka.elem = kernel_elem(p.dtype);
  if (!kv_append(ka, s)) throw std::runtime_error("generate: kv_append refused the step");
  DecodeArgs da = decode_args(p);
  da.q = b.t[gt::q_last];
  da.k_cache = b.t[gt::k_cache];
  da.v_cache = b.t[gt::v_cache];
  da.lengths = lengths;
  da.page_table = static_cast<const std::int32_t*>(b.t[gt::page_table]);
  da.o = b.t[gt::o_last];
  da.lse = static_cast<float*>(b.t[gt::lse_last]);
  if (!decode_split(da, plan, b.at(b.l.decode), s)) throw std::runtime_error("generate: decode_split refused the step");
  gemm(h, p.dtype, B, M, Hd, b.t[gt::o_last], Hd, 0, b.t[gt::wo], M, 0, b.t[gt::y_last], M, 0, 1,
       "generate step output projection");
}

void generate_loop(const LaunchArgs& la) {
  const Problem& p = la.problem;
  const cudaStream_t s = la.stream;
  const Layout l = layout(p, la.params);
  const Buffers b{p, la.tensors, static_cast<unsigned char*>(la.workspace), l};
  const DeviceCc cc = current_cc();
  const std::optional<PrefillKernel> kernel = prefill_kernel(p, cc.major, cc.minor);
  const DecodeSplitPlan plan = step_plan(p, la.params);
  if (!kernel || !plan.compiled) throw std::runtime_error("generate: no prefill or decode kernel for the case");
  const bool use_graph = la.params.at("graph") != 0;

  // Setup, outside the events.
  const std::vector<std::int32_t> prompt_lengths(static_cast<std::size_t>(p.batch), static_cast<std::int32_t>(p.prompt_len));
  cuda_check(cudaMemcpyAsync(b.at(l.prompt_lengths), prompt_lengths.data(), prompt_lengths.size() * sizeof(std::int32_t),
                             cudaMemcpyHostToDevice, s),
             "generate prompt lengths");
  cuda_check(cudaMemsetAsync(b.at(l.counter), 0, sizeof(int), s), "generate step counter");
  cublasHandle_t h = cublas_handle(s);
  check_cublas(cublasSetWorkspace(h, b.at(l.cublas), kCublasWorkspace), "cublasSetWorkspace");
  Graph graph;
  if (use_graph) {
    // Relaxed: a kernel's first launch may set its shared-memory attribute during the capture.
    cuda_check(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed), "cudaStreamBeginCapture");
    try {
      decode_step(b, plan, h, s);
    } catch (...) {
      cudaStreamEndCapture(s, &graph.graph);
      cudaGetLastError();  // an invalidated capture's error is this case's, not the next case's launch check
      throw;
    }
    cuda_check(cudaStreamEndCapture(s, &graph.graph), "cudaStreamEndCapture");
    cuda_check(cudaGraphInstantiate(&graph.exec, graph.graph, 0), "cudaGraphInstantiate");
    cuda_check(cudaGraphUpload(graph.exec, s), "cudaGraphUpload");
  }
  cuda_check(cudaStreamSynchronize(s), "generate setup");

  // ev[0] prefill start, ev[1] prefill end, ev[2 + i] end of step i.
  Events ev(static_cast<std::size_t>(p.steps) + 2);
  cuda_check(cudaEventRecord(ev.ev[0], s), "cudaEventRecord");
  prefill(b, *kernel, h, s);
  cuda_check(cudaEventRecord(ev.ev[1], s), "cudaEventRecord");
  cuda_check(cudaEventSynchronize(ev.ev[1]), "generate prefill");
  for (std::int64_t i = 0; i < p.steps; ++i) {
    if (use_graph)
      cuda_check(cudaGraphLaunch(graph.exec, s), "cudaGraphLaunch");
    else
      decode_step(b, plan, h, s);
    cuda_check(cudaEventRecord(ev.ev[static_cast<std::size_t>(i) + 2], s), "cudaEventRecord");
    cuda_check(cudaEventSynchronize(ev.ev[static_cast<std::size_t>(i) + 2]), "generate step");
  }
  if (la.metrics) {
    la.metrics->values["ttft_ms"] = ev.ms(0, 1);
    std::vector<double>& steps = la.metrics->series["step_ms"];
    steps.clear();
    for (std::size_t i = 0; i < static_cast<std::size_t>(p.steps); ++i) steps.push_back(ev.ms(i + 1, i + 2));
    la.metrics->total_ms = ev.ms(0, ev.ev.size() - 1);
  }
}

std::optional<std::string> generate_supports(const Problem& p, const Params& params, const DeviceCaps& caps) {
  if (p.op != OpKind::generate) return std::string("not a generate problem");
  const auto& dims = decode_head_dims();
  if (std::find(dims.begin(), dims.end(), p.head_dim) == dims.end())
    return fmt::format("head_dim {} has no decode kernel", p.head_dim);
  const auto kernel = prefill_kernel(p, caps.cc_major, caps.cc_minor);
  if (!kernel) return fmt::format("no tensor-core attention tile for {} head_dim {}", to_string(p.dtype), p.head_dim);
  if (kernel->tile.smem_bytes > caps.smem_per_block_optin)
    return fmt::format("the prefill tile needs {} bytes of shared memory, the device grants {}", kernel->tile.smem_bytes,
                       caps.smem_per_block_optin);
  if (caps.available && caps.cc_major < 8)
    return fmt::format("tensor cores with bf16 need compute capability 8.0, the device has {}.{}", caps.cc_major,
                       caps.cc_minor);
  if (p.batch * p.kv_heads > 65535 || p.heads > 65535 || p.batch > 65535)
    return std::string("batch * kv_heads, heads or batch > 65535 (grid limits)");
  if (p.batch * p.prompt_len > (std::int64_t{1} << 31) - 1 || p.d_model > (std::int64_t{1} << 31) - 1)
    return std::string("batch * prompt_len or d_model >= 2^31 (cuBLAS dimensions)");
  if (caps.available) {  // the plan asks the device for its SM count
    const DecodeSplitPlan plan = step_plan(p, params);
    if (!plan.compiled)
      return fmt::format("decode version {} has no instance for {} head_dim {} with {} query heads a KV head",
                         params.at("decode_version"), to_string(p.dtype), p.head_dim, p.heads / p.kv_heads);
    // decode_split's own refusals (decode.split_kv's split_limits), so a step never throws them.
    if (plan.row_chunks > 65535) return fmt::format("{} row chunks > 65535 (grid.z)", plan.row_chunks);
    if (plan.splits > 1 && p.batch * p.kv_heads * plan.row_chunks > (1 << 16))
      return fmt::format("batch*kv_heads*row chunks {} > 65536 (the decode splits' merge counters)",
                         p.batch * p.kv_heads * plan.row_chunks);
  }
  return std::nullopt;
}

}  // namespace

void register_generate_variants(Registry& r) {
  r.add(Variant{
      "generate.loop", OpKind::generate, Backend::gpu,
      "seed 001's prefill + decode loop: cuBLAS projections, attn.wgmma (attn.fa2_mma without sm_90a) over the "
      "prompt, kv_append, split-KV decode per step; TTFT and TBT by events",
      {DType::fp16, DType::bf16}, {64, 128, 256},
      {{"graph", 0, {0, 1},
        "1: one decode step (step begin, q/k/v GEMMs, kv_append, decode, output GEMM) captured in a CUDA graph and "
        "replayed per step"},
       {"decode_version", 3, {2, 3}, "the split-KV decode: 2 on CUDA cores, 3 on tensor cores"}},
      "workspace: the prompt's Q, K, V, O (twice), lse and projected output, the decode split's partials, 32 MiB "
      "for cuBLAS; the loop waits for each step",
      generate_supports,
      [](const Problem& p, const Params& params) { return layout(p, params).total; },
      generate_loop});
}

}  // namespace fabench

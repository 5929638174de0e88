// attn.wgmma: FlashAttention-2's algorithm on Hopper's warpgroup MMA (wgmma, sm_90a), fp16 and bf16.
//
// Against attn.fa2_mma (mma.sync, one warp per 16 query rows): a warpgroup of four warps owns 64
// query rows and computes S = Q K_j^T and O += P V_j with wgmma, whose operands the tensor cores
// read straight from shared memory (no ldmatrix into registers), 64 x BN x 16 per instruction
// instead of 16 x 8 x 16. mma.sync kernels (ours and FlashAttention-2) stop near 360 TFLOP/s on an
// H100/H200; wgmma is the instruction that can go further.
//   - Shared memory holds Q, K and V in the 128-byte swizzle the descriptors name (wgmma.cuh):
//     column blocks of 64 elements, chunk c of row r at c ^ (r mod 8). K tiles are K-major B for
//     S; the same V layout is an N-major B for P V, so neither is transposed on the way in.
//   - Q and the K/V tiles arrive by cp.async, 16 bytes a thread, zero-filled past the sequence end;
//     K and V have two buffers each, so tile j + 1 loads while tile j is computed. Each thread
//     fences the async proxy after its copies land, before the barrier that publishes them.
//   - P never leaves registers: the S accumulator of two n8 blocks, packed to 16 bits, is the
//     k16 A fragment of the register-A form of wgmma (the same identity attn.fa2_mma uses).
//   - Online softmax in base 2 on the accumulator (a row's four lanes reduce with two shuffles),
//     causal tiles above the diagonal skipped, only tiles crossing it masked, heaviest blocks first
//     (attention_order.h: the last heads interleaved; causal on an H100 +1-11% at seq 1024-8192,
//     d256 the most, and -2..+4% at 16384), 1 / l applied once at the end; the log-sum-exp per
//     row as a second output.
// Measured figures live in results/README.md beside the command that produced them.
#include "kernels/attention/attention_wgmma.cuh"
#include "kernels/attention/attention_wgmma_ws.cuh"

namespace fabench {

namespace {

template <class T, int D, int BN, int WGS, bool OVERLAP>
bool launch_wgmma(const AttentionArgs& a, cudaStream_t stream) {
  using Tr = WgTraits<T, D, BN, WGS>;
  auto kernel = attention_wgmma_kernel<T, D, BN, WGS, OVERLAP>;
  if (cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(Tr::kSmemBytes)) !=
      cudaSuccess)
    return false;
  static const AttentionResidency residency = attention_residency(kernel, Tr::kThreads, Tr::kSmemBytes);
  const AttentionSchedule sched = attention_schedule(a, Tr::kBM, residency, false);
  kernel<<<sched.grid, Tr::kThreads, Tr::kSmemBytes, stream>>>(a, sched, DenseKeys::Args{});
  return true;
}

// Pipeline 3, the default at d 128: the warp-specialized persistent loop of sparse.wgmma v3
// (attention_wgmma_ws.cuh) over every key tile (DenseKeys): a producer warpgroup loads Q, K and V
// by TMA, two consumer warpgroups of 64 query rows overlap S of the next step with P V. Measured
// at bc1b2b0 on an H200 (results/h200/attn_ws_bc1b2b00a80a, bf16 d 128, 16k tokens, seq 2k-16k,
// the peers in the same run): 599-661 TFLOP/s non-causal, 431-642 causal, against 396-422 and
// 358-428 for pipeline 1 (1.51-1.57x and 1.20-1.50x); PyTorch's cuDNN 660-693 and 521-642 (this
// 0.91-0.95x and 0.83-1.00x), its flash 348-364 and 290-322 (1.72-1.81x, 1.49-2.00x).
template <class T, int D, int BN, int WGS, int PIPE>
bool launch_config(const AttentionArgs& a, cudaStream_t stream) {
  if constexpr (PIPE == 3) {
    static_assert(WGS == 2, "the warp-specialized loop has two consumer warpgroups");
    return launch_wgmma_ws<T, D, BN, DenseKeys>(a, DenseKeys::Args{}, false, stream);
  } else {
    return launch_wgmma<T, D, BN, WGS, PIPE == 2>(a, stream);
  }
}
template <class T, int D, int BN, int WGS, int PIPE>
constexpr std::size_t config_smem_bytes() {
  return PIPE == 3 ? WsTraits<T, D, BN>::kSmemBytes : WgTraits<T, D, BN, WGS>::kSmemBytes;
}

// The compiled configurations: (element, head_dim, block_n, warpgroups, pipeline); block_m = 64 x
// warpgroups; pipeline 2 overlaps a tile's softmax with the previous tile's P V (OVERLAP), 1 runs
// them in turn; pipeline 3 is the warp-specialized loop (launch_config). The first entry per
// element and head dim is the default.
// Measured on an H100 (bf16, 16k tokens, seq 2048-16384, TFLOP/s non-causal / causal), in order:
//   first version: d64  3 warpgroups x 128 keys 300-333 / 228-312 | 2 x 128 279-299 / 236-298
//                        4 x 64 289-308 / 219-292
//                  d128 2 x 128 385-423 / 318-425 | 2 x 64 278-308 / 231-288 | 3 x 64 365-398 / 284-379
//                       pipeline 2 (2 x 128) 375-418 / 300-405
//                  d256 2 x 64 424-469 / 336-477 (attn.fa2_mma 298-317 / 239-320)
//   after the 32-bit diagonal mask and the write-only first k-step of S:
//                  d64  2 x 64 349-370 / 292-353 (110 registers: two blocks per SM, whose phases
//                       interleave) | 1 x 64 335-351 / 305-335 | 3 x 128 299-337 / 252-315
//                  d128 2 x 128 390-427 / 334-431 | 1 x 64 374-401 / 337-383 | 1 x 128 289-313 /
//                       236-312 | 2 x 64 336-368 / 284-371
// The overlap does not pay here: every warpgroup meets at two block barriers per tile, so they
// run in step and one's softmax already hides behind another's GEMM; a second resident block does
// the same more cheaply. (Its first build measured 10-20% slower: ptxas had serialized every
// wgmma, C7514, because S_{j+1} was issued under a branch.)
// ptxas -v (CUDA 13.0): d64 2 x 64 110 registers, 1 x 64 125, 3 x 128 150; d128 224, 1 x 64 184;
// d256 250 (it spilled 4 bytes until the first k-step of S wrote its accumulator without reading
// it); the overlap spills 24 bytes at d128 and 64 at d256 (not compiled there).
#define FA_WGMMA_CONFIGS(X)                  \
  X(f16, __half, 64, 64, 2, 1)               \
  X(f16, __half, 128, 128, 2, 3)             \
  X(f16, __half, 128, 128, 2, 1)             \
  X(f16, __half, 256, 64, 2, 1)              \
  X(bf16, __nv_bfloat16, 64, 64, 2, 1)       \
  X(bf16, __nv_bfloat16, 64, 64, 1, 1)       \
  X(bf16, __nv_bfloat16, 64, 128, 3, 1)      \
  X(bf16, __nv_bfloat16, 128, 128, 2, 3)     \
  X(bf16, __nv_bfloat16, 128, 128, 2, 1)     \
  X(bf16, __nv_bfloat16, 128, 64, 1, 1)      \
  X(bf16, __nv_bfloat16, 128, 128, 2, 2)     \
  X(bf16, __nv_bfloat16, 256, 64, 2, 1)

}  // namespace

bool attention_wgmma_compiled() {
#ifdef FABENCH_SM90A
  return true;
#else
  return false;
#endif
}

std::vector<AttentionTile> attention_wgmma_configs() {
  std::vector<AttentionTile> out;
#define FA_LIST(E, T, D, BN, WGS, PIPE) \
  out.push_back({D, 64 * WGS, BN, config_smem_bytes<T, D, BN, WGS, PIPE>(), 4 * WGS, KernelElem::E, 2, false, PIPE});
  FA_WGMMA_CONFIGS(FA_LIST)
#undef FA_LIST
  return out;
}

bool attention_wgmma(const AttentionArgs& a, const AttentionTile& tile, cudaStream_t stream) {
  if (!attention_wgmma_compiled()) return false;
#define FA_DISPATCH(E, T, D, BN, WGS, PIPE)                                                         \
  if (a.elem == KernelElem::E && a.head_dim == D && tile.block_m == 64 * WGS && tile.block_n == BN && \
      tile.pipeline == PIPE)                                                                            \
    return launch_config<T, D, BN, WGS, PIPE>(a, stream);
  FA_WGMMA_CONFIGS(FA_DISPATCH)
#undef FA_DISPATCH
  return false;
}

}  // namespace fabench

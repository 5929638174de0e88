// attn.fa2_mma: FlashAttention-2 forward on tensor cores (mma.sync), fp16, bf16 and tf32.
//
// Against attn.fa2 (the same algorithm on CUDA cores): both products run as warp-level mma.sync
// (m16n8k16 for fp16/bf16, m16n8k8 for tf32) and the scores never leave registers.
//   - A warp owns 16 * kMt query rows; S = Q K^T lands in accumulator fragments, the online softmax
//     works on those fragments (a row's four lanes reduce with two shuffles), and P is repacked in
//     registers as the A operand of O += P V: the accumulator layout of two n8 tiles is exactly the
//     m16n8k16 A layout. For tf32, whose A layout differs, the keys of each k8 step are permuted
//     (logical k t <-> key 2t, t + 4 <-> key 2t + 1) in both P and V, which changes nothing in the
//     sum and needs no shuffles.
//   - Tiles move global -> shared with cp.async (16 bytes a thread, zero-filled past the sequence
//     end) into XOR-swizzled rows (16-byte chunk c of row r stored at c ^ (r mod 8)), so ldmatrix
//     and the tf32 V loads are free of bank conflicts.
//   - Pipelining as in FlashAttention-2: V_j is fetched while S = Q K_j^T is computed, and K_{j+1}
//     while the softmax and O += P V_j are, with one buffer each.
//   - Causal: tiles wholly above the diagonal are skipped, only tiles crossing it are masked, and
//     blocks run heaviest first, the last heads interleaved (attention_order.h), to shorten the tail.
//   - The row sum l stays per lane until the end (one quad reduction), and O is divided once.
//   - Latency, found with Nsight Compute's per-instruction stall samples against FlashAttention-2
//     (bf16 d128 on an H100): K fragments are loaded a step ahead of their MMAs, and the softmax
//     runs each phase (max, shuffles, exp, sums) over all of a lane's rows at once. Against the
//     version before, bf16, 16k tokens, seq 2k-16k: d64 +7-11%, d128 +1-3%, d256 +4-7% (one A/B
//     run). Final run (results/h100, 627076cf3547), ratio to PyTorch's flash backend: d64
//     1.04-1.13x, d128 0.95-1.05x (causal with 64-row tiles then), d256
//     0.95-1.18x.
//   - Tile loads from one shared and one global base per thread (load_tile) took the d128 128 x 64
//     tile's spill from 92 to 8 bytes, and a 256 x 64 tile over 8 warps (no spills) became the
//     non-causal d128 default from seq 2048: d128 non-causal +3-6% (results/h100, 24b8e1147815:
//     0.99-1.05x flash non-causal, 0.97-1.06x causal, d64 1.05-1.16x).
//   - Where blocks work (57992e8; H100 A/B runs, two passes each, 16k tokens): causal launch
//     order with the last heads interleaved (attention_order.h), after which 128 x 64 leads 64 x 64
//     as the d128 causal tile by 5-9% (302-352 against 283-323 TFLOP/s bf16, seq 2k-16k); and
//     persistent non-causal blocks at d128 and d256 (kPersistent): d128 +1-5%, d256 +0-3%.
//     Final run (results/h100, 57992e8cccdd): d128 causal 0.95-1.01x -> 1.12-1.17x flash, d128
//     non-causal 0.98-1.09x, d64 1.03-1.13x.
//   - Stream-K tail (3fe3ced): non-causal persistent blocks take whole items for all but the
//     last full wave and split the key tiles of the rest evenly (attention_order.h); a head piece
//     folds in the next block's tail piece (fp32 partials and a flag in a workspace, cooperative
//     launch). With the unit in shared memory and full tiles loaded from one base, the key loop
//     kept its registers (d128 256 x 64: no spills, 4 bytes before). H100 A/B against the version
//     before, two passes: d128 non-causal +1-2%, d256 +0-1%, causal +3%. Final run (results/h100,
//     3fe3ced13719): fp16 d128 non-causal 0.99-1.12x -> 1.05-1.13x flash, bf16 1.02-1.08x.
// Measured figures live in results/README.md beside the command that produced them.
#include "kernels/attention/attention_fa2_mma.cuh"

#include <type_traits>

namespace fabench {

namespace {

// The launch of one configuration: its schedule, and with the keys of the last items split
// (stream-K, attention_order.h), a workspace of one flag and one partial per block. Flags come
// first, padded to 256 bytes.
template <class M, int D, int BM, int BN, int WARPS, int STAGES>
struct Fa2MmaLaunch {
  using Tr = MmaTraits<M, D, BM, BN, WARPS, STAGES>;
  static constexpr auto kernel = attention_fa2_mma_kernel<M, D, BM, BN, WARPS, STAGES>;

  // False when the kernel's shared memory cannot be granted. split: whether the schedule may
  // split keys (it needs the workspace). The attribute is set once per process, as residency is
  // asked once (one device per process).
  static bool schedule(const AttentionArgs& a, bool split, AttentionSchedule& sched) {
    static const bool smem_granted =
        Tr::kSmemBytes + Tr::kUnitSmemBytes <= 48 * 1024 ||
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(Tr::kSmemBytes)) ==
            cudaSuccess;
    if (!smem_granted) return false;
    static const AttentionResidency residency = attention_residency(kernel, Tr::kThreads, Tr::kSmemBytes);
    sched = attention_schedule(a, BM, residency, Tr::kPersistent, Tr::kPersistent && split ? BN : 0);
    return true;
  }
  static std::size_t flag_bytes(const AttentionSchedule& s) { return (s.grid.x * sizeof(unsigned) + 255) / 256 * 256; }
  static std::size_t workspace_bytes(const AttentionArgs& a) {
    AttentionSchedule s;
    if (!schedule(a, true, s) || !s.persistent || s.whole_items == s.tiles * s.slices) return 0;
    return flag_bytes(s) + std::size_t{s.grid.x} * Tr::kPartialFloats * Tr::kThreads * sizeof(float);
  }
  static bool launch(const AttentionArgs& a, void* workspace, cudaStream_t stream) {
    AttentionSchedule s;
    if (!schedule(a, workspace != nullptr, s)) return false;
    if (!s.persistent || s.whole_items == s.tiles * s.slices) {
      kernel<<<s.grid, Tr::kThreads, Tr::kSmemBytes, stream>>>(a, s, nullptr, nullptr, DenseKeys::Args{});
      return true;
    }
    // Split keys: a head piece's block waits for the next block's tail piece, so every block must
    // be resident at once; a cooperative launch fails rather than let that wait hang.
    auto* flags = static_cast<unsigned*>(workspace);
    auto* partials = reinterpret_cast<float*>(static_cast<unsigned char*>(workspace) + flag_bytes(s));
    if (cudaMemsetAsync(flags, 0, s.grid.x * sizeof(unsigned), stream) != cudaSuccess) return true;
    DenseKeys::Args no_mask;
    void* args[] = {const_cast<AttentionArgs*>(&a), &s, &partials, &flags, &no_mask};
    cudaLaunchCooperativeKernel(reinterpret_cast<const void*>(kernel), s.grid, dim3(Tr::kThreads), args,
                                Tr::kSmemBytes, stream);  // an error is left for cudaPeekAtLastError
    return true;
  }
};

// The compiled configurations: (element, head_dim, block_m, block_n, warps, stages). A warp owns
// block_m / (16 * warps) m16 tiles; the first entry per element and head dim is the default.
// Measured on the H200 (b4 s4096, 16k tokens, bf16, fa-bench at 19c67ad + the address split), in
// TFLOP/s non-causal / causal:
//   d64:  (128, 64, 4, 1) 298 / 268 | (64, 64, 4, 1) 281 / 264 | (128, 64, 8, 1) 201 / 182
//   d128: (64, 64, 4, 1) 303 / 280 | (128, 32, 4, 1) 298 / 258 | (128, 64, 8, 1) 258 / 234
//         (64, 32, 4, 1) 248 / 220
//   d256: (128, 64, 8, 1) 286 / 245
//   tf32: d64 (64, 64, 4, 1) 150, d128 (64, 32, 4, 1) 137 | (128, 32, 8, 1) 122
// Re-measured (H200, f9ff6f1, K_{j+1} requested before the softmax), bf16 d128 16k tokens s2048-16384:
//   (128, 64, 4, 1) 327-342 non-causal, 259-312 causal (the default since: 64 x 64 ran 301-311
//   non-causal); fp32 by 3xTF32: d64 35-41, d128 34-41 (tf32 132-152).
// Two stages (K and V fetched a whole tile ahead) measured 1-5% slower everywhere: the load is
// not what waits. One two-stage entry is kept so the path stays tested and measurable (with the
// single-base loads it fell from 311 to 249 TFLOP/s, bf16 d128 seq 2048, H100: not understood).
// Session 6 (H100, 24b8e1147815, bf16 d128 16k tokens, seq 2048 / 8192, TFLOP/s non-causal /
// causal): (256, 64, 8, 1) 343 / 263 and 366 / 313 | (128, 64, 4, 1) 339 / 283 and 357 / 324 |
// (64, 64, 4, 1) 318 / 284 and 335 / 320 | (128, 32, 4, 1) 324 / 274 and 343 / 310.
// Session 7 (H100, 7f942ac, 16k tokens, d128 causal, two passes): the 64 x 64 tile takes 226
// registers, so two blocks of 4 warps an SM; capped at 170 by __launch_bounds__ (three blocks, no
// spills) it lost 9-12% (bf16 282-326 -> 254-290 TFLOP/s): the register-resident K step and
// softmax phases need the registers more than the SM needs the warps.
// Session 8 (H100, 249ccc7, d128 causal with the interleaved tail, seq 2048-16384, bf16 TFLOP/s):
// (128, 64, 4, 1) 302-352 | (256, 64, 8, 1) 290-354 | (128, 32, 4, 1) 296-349 | (64, 64, 4, 1)
// 283-323: 128 x 64 became the causal d128 tile. The persistent loop (kPersistent) leaves the
// 16-bit d128 128 x 64 tile spilling 12 bytes (8 before) and 256 x 64 4 bytes (none before).
// ptxas -v (CUDA 13.0): 2 m16 tiles per warp at d128 with block_n 64 spill 56 bytes; d256 with 4
// warps spilled 64-100 bytes and tf32 d256 168, so d256 has the 8-warp tile alone and tf32 stops
// at d128.
#define FA_MMA_CONFIGS(X)                     \
  X(f16, __half, 64, 128, 64, 4, 1)           \
  X(f16, __half, 128, 128, 64, 4, 1)          \
  X(f16, __half, 128, 64, 64, 4, 1)           \
  X(f16, __half, 128, 256, 64, 8, 1)          \
  X(f16, __half, 256, 128, 64, 8, 1)          \
  X(bf16, __nv_bfloat16, 64, 128, 64, 4, 1)   \
  X(bf16, __nv_bfloat16, 64, 64, 64, 4, 1)    \
  X(bf16, __nv_bfloat16, 128, 128, 64, 4, 1)  \
  X(bf16, __nv_bfloat16, 128, 64, 64, 4, 1)   \
  X(bf16, __nv_bfloat16, 128, 64, 64, 4, 2)   \
  X(bf16, __nv_bfloat16, 128, 128, 32, 4, 1)  \
  X(bf16, __nv_bfloat16, 128, 256, 64, 8, 1)  \
  X(bf16, __nv_bfloat16, 256, 128, 64, 8, 1)  \
  X(f32, float, 64, 64, 64, 4, 1)             \
  X(f32, float, 128, 64, 32, 4, 1)            \
  X(f32, Tf32x3, 64, 64, 64, 4, 1)            \
  X(f32, Tf32x3, 128, 64, 32, 4, 1)

}  // namespace

std::vector<AttentionTile> attention_fa2_mma_configs() {
  std::vector<AttentionTile> out;
#define FA_LIST(E, M, D, BM, BN, W, MB)                                                     \
  {                                                                                         \
    using Tr = MmaTraits<M, D, BM, BN, W, MB>;                                              \
    out.push_back({D, BM, BN, Tr::kSmemBytes + Tr::kUnitSmemBytes, W, KernelElem::E, MB,    \
                   std::is_same_v<M, Tf32x3>});                                             \
  }
  FA_MMA_CONFIGS(FA_LIST)
#undef FA_LIST
  return out;
}

#define FA_MATCHES(E, M, D, BM, BN, W, MB)                                                                     \
  a.elem == KernelElem::E && a.head_dim == D && tile.block_m == BM && tile.block_n == BN && tile.warps == W && \
      tile.stages == MB && tile.tf32x3 == std::is_same_v<M, Tf32x3>

std::size_t attention_fa2_mma_workspace_bytes(const AttentionArgs& a, const AttentionTile& tile) {
#define FA_WORKSPACE(E, M, D, BM, BN, W, MB) \
  if (FA_MATCHES(E, M, D, BM, BN, W, MB)) return Fa2MmaLaunch<M, D, BM, BN, W, MB>::workspace_bytes(a);
  FA_MMA_CONFIGS(FA_WORKSPACE)
#undef FA_WORKSPACE
  return 0;
}

bool attention_fa2_mma(const AttentionArgs& a, const AttentionTile& tile, void* workspace, cudaStream_t stream) {
#define FA_DISPATCH(E, M, D, BM, BN, W, MB) \
  if (FA_MATCHES(E, M, D, BM, BN, W, MB)) return Fa2MmaLaunch<M, D, BM, BN, W, MB>::launch(a, workspace, stream);
  FA_MMA_CONFIGS(FA_DISPATCH)
#undef FA_DISPATCH
  return false;
}
#undef FA_MATCHES

}  // namespace fabench

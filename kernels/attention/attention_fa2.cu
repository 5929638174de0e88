// attn.fa2: FlashAttention-2 Algorithm 1 (Dao 2023, section 3.1) in fp32 on CUDA cores.
//
// Against attn.naive: no score matrix in device memory. One block owns BM query rows of one head
// and streams BN-row tiles of K and V through shared memory; each row keeps its running maximum m
// and sum l, the output accumulator is rescaled by exp(m_old - m_new) when the maximum grows, and
// divided by l once at the end (FA2's change against FA1: no per-tile normalisation, the loop over
// K/V inside the block, rows in parallel across blocks). Under causal masking tiles wholly above
// the diagonal are skipped and only tiles crossing it are masked. Memory: inputs and outputs only.
//
// v2, register-blocked as an SGEMM is. v1 gave each thread single S and O entries strided over the
// tile: every FFMA waited on one or two shared-memory loads, the scores went through shared memory
// for a warp-per-row softmax, and it ran 10.5-11.4 TFLOP/s on an H100 (0.23-0.33x PyTorch's fused
// fp32 kernel). Now 256 threads form a 16 x 16 grid over a 64 x 64 tile; thread (tr, tc) owns the
// 4 x 4 block of S at rows 4tr.., keys 4tc.., and O's rows 4tr.. at dims 4tc + 64g (+0..3).
//   - Q and K are stored transposed ([dim][row], rows padded to 68 floats), so one step over a dim
//     is two 16-byte loads (4 rows of Q, 4 keys of K) feeding 16 FFMA; Q is pre-scaled by
//     scale * log2(e), so S is in the exp2 domain.
//   - The online softmax runs in registers: a row's 16 threads are 16 consecutive lanes and reduce
//     its maximum with four shuffles; each thread keeps its share of l until the end.
//   - P goes to shared memory as [key][row] (over K^T, which S no longer needs), so O += P V is
//     again two 16-byte loads (4 rows of P, 4 dims of V) per 16 FFMA.
// Measured (H100, fp32, 16k tokens, seq 2k-16k, TFLOP/s): d64 27.4-29.5, d128 26.0-28.2, d256
// 24.4-27.4, 2.5x v1, 0.84-0.85x PyTorch's efficient kernel at d64 and 0.60-0.62x at d128 (that
// kernel runs fp32 as 3xTF32 on tensor cores, as attn.fa2_mma's fp32 tiles do). With P in its own
// buffer d128 held one block per SM: 22.9-24.9.
// v2.1: the transposing tile loads were rearranged to be free of bank conflicts (Nsight Compute
// had found 14.2-way conflicts on the shared stores at d128) and batch four 16-byte loads: d64
// 28.0-30.1, d128 28.0-30.1 (0.85-0.86x and 0.64-0.66x PyTorch's efficient kernel, same H100).
// Measured figures live in results/README.md beside the command that produced them.
#include "kernels/attention/attention.h"
#include "kernels/attention/attention_block.cuh"

namespace fabench {

namespace {

constexpr int kThreads = 256;
constexpr int kTile = 64;             // query rows and keys per tile
constexpr int kStride = kTile + 4;    // padded row of the transposed tiles (16-byte aligned)

template <int D>
struct Fa2Traits {
  static_assert(D == 32 || D % 64 == 0, "dims per thread: 2 (d32) or 4 per 64-dim group");
  static constexpr int kVec = D == 32 ? 2 : 4;        // O dims per thread per group
  static constexpr int kGroups = D == 32 ? 1 : D / 64;  // 64-dim groups (16 threads x kVec)
  // P^T reuses K^T's buffer once S is computed (d >= 64: it is large enough), so that d128 fits two
  // blocks per SM (102 KB each instead of 119) and d64 four.
  static constexpr bool kPInK = D >= 64;
  static constexpr std::size_t kSmemFloats = static_cast<std::size_t>(D) * kStride * 2 +
                                             static_cast<std::size_t>(kTile) * D + (kPInK ? 0 : kTile * kStride);
  static constexpr std::size_t kSmemBytes = kSmemFloats * sizeof(float);
  // 16-byte tile loads in flight before their stores. d64 takes them one at a time: four took it
  // from 64 registers to 80, three blocks per SM where shared memory holds four.
  static constexpr int kLoadBatch = D == 64 ? 1 : 4;
};

// A [rows][D] tile of `src` (rows at or past rows_left read as 0) stored transposed into dst[D][kStride],
// multiplied by `mul`. A warp takes 16 rows x 8 columns: lanes 0-15 read 16 bytes of rows r..r+15,
// lanes 16-31 the next 16 bytes of the same rows (one 32-byte sector a row), and each of the four
// scalar stores hits 32 different banks (dim c + k and c + 4 + k rows are 16 banks apart, since
// kStride = 4 mod 32). (v2 gave a warp one row's 128 dims: the stores, 272 floats apart, fell on
// two banks, 14.2-way conflicts on average by Nsight Compute, at d128 H100.)
template <int D>
__device__ __forceinline__ void load_transposed(float* dst, const float* src, std::int64_t rows_left, float mul) {
  constexpr int kColGroups = D / 4;  // 16-byte groups a row; even, so a warp's two stay in one row block
  static_assert(kColGroups % 2 == 0 && kTile * kColGroups % kThreads == 0, "whole warps of 16 rows x 2 groups");
#pragma unroll (Fa2Traits<D>::kLoadBatch)
  for (int i = 0; i < kTile * kColGroups / kThreads; ++i) {
    const int e = static_cast<int>(threadIdx.x) + i * kThreads, rest = e / 16;
    const int r = 16 * (rest / kColGroups) + e % 16, c = 4 * (rest % kColGroups);
    float4 x = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if (r < rows_left) x = *reinterpret_cast<const float4*>(src + static_cast<std::size_t>(r) * D + c);
    dst[(c + 0) * kStride + r] = x.x * mul;
    dst[(c + 1) * kStride + r] = x.y * mul;
    dst[(c + 2) * kStride + r] = x.z * mul;
    dst[(c + 3) * kStride + r] = x.w * mul;
  }
}

template <int BM, int BN, int D>
__global__ void __launch_bounds__(kThreads) attention_fa2_kernel(AttentionArgs a) {
  static_assert(BM == kTile && BN == kTile, "v2 runs 64 x 64 tiles");
  using Tr = Fa2Traits<D>;
  constexpr int kVec = Tr::kVec, kGroups = Tr::kGroups;
  extern __shared__ __align__(16) float smem[];
  float* q_t = smem;                 // [D][kStride]: Q^T, scaled
  float* k_t = q_t + D * kStride;    // [D][kStride]: K^T
  float* v_s = k_t + D * kStride;    // [kTile][D]
  float* p_t = Tr::kPInK ? k_t : v_s + kTile * D;  // [kTile keys][kStride]: P^T

  const int tid = threadIdx.x, tr = tid / 16, tc = tid % 16;
  const std::int64_t bh = blockIdx.y, b = bh / a.heads, h = bh % a.heads;
  const std::int64_t kv = b * a.kv_heads + h / (a.heads / a.kv_heads);
  const std::int64_t i0 = static_cast<std::int64_t>(gridDim.x - 1 - blockIdx.x) * BM;  // heaviest causal first
  const float* q = static_cast<const float*>(a.q) + (bh * a.seq_q + i0) * D;
  const float* k = static_cast<const float*>(a.k) + kv * a.seq_k * D;
  const float* v = static_cast<const float*>(a.v) + kv * a.seq_k * D;
  const float scale_log2 = a.scale * 1.4426950408889634f;  // exp(x) = exp2(x log2 e)
  const std::int64_t diag = a.seq_k - a.seq_q;              // query i sees keys j <= i + diag

  load_transposed<D>(q_t, q, a.seq_q - i0, scale_log2);
  float o[4][kGroups * kVec] = {};
  float m_run[4], l_run[4];  // l_run: this thread's share of the row sum, reduced at the end
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    m_run[i] = -INFINITY;
    l_run[i] = 0.0f;
  }

  // Keys past the last visible one of this block's last row are never needed.
  const std::int64_t key_end =
      a.causal ? std::min<std::int64_t>(a.seq_k, std::max<std::int64_t>(0, i0 + BM + diag)) : a.seq_k;
  for (std::int64_t j0 = 0; j0 < key_end; j0 += BN) {
    __syncthreads();  // every thread is done with the previous tile's K, V and P
    load_transposed<D>(k_t, k + j0 * D, a.seq_k - j0, 1.0f);
#pragma unroll (Tr::kLoadBatch)
    for (int e = tid; e < BN * D / 4; e += kThreads) {
      const int r = e / (D / 4);
      float4 x = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      if (j0 + r < a.seq_k) x = *reinterpret_cast<const float4*>(v + j0 * D + 4 * static_cast<std::size_t>(e));
      *reinterpret_cast<float4*>(v_s + 4 * e) = x;
    }
    __syncthreads();

    // S (log2 domain) for this thread's 4 x 4 block.
    float s[4][4] = {};
#pragma unroll 8
    for (int x = 0; x < D; ++x) {
      const float4 qa = *reinterpret_cast<const float4*>(q_t + x * kStride + 4 * tr);
      const float4 kb = *reinterpret_cast<const float4*>(k_t + x * kStride + 4 * tc);
      const float qv[4] = {qa.x, qa.y, qa.z, qa.w}, kvv[4] = {kb.x, kb.y, kb.z, kb.w};
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) s[i][j] = fmaf(qv[i], kvv[j], s[i][j]);
    }

    // Online softmax per row: key j0 + 4tc + j is kept when 4tc + j <= last (a 32-bit bound per row).
    const bool needs_mask = j0 + BN > a.seq_k || (a.causal && j0 + BN - 1 > i0 + diag);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      if (needs_mask) {
        const int lane_last = lane_key_limit(i0 + 4 * tr + i, j0, a.seq_k, a.causal, diag, BN, 4 * tc);
#pragma unroll
        for (int j = 0; j < 4; ++j)
          if (j > lane_last) s[i][j] = -INFINITY;
      }
      float m_tile = fmaxf(fmaxf(s[i][0], s[i][1]), fmaxf(s[i][2], s[i][3]));
#pragma unroll
      for (int off = 1; off < 16; off *= 2) m_tile = fmaxf(m_tile, __shfl_xor_sync(0xffffffffu, m_tile, off));
      const float m_new = fmaxf(m_run[i], m_tile);
      const float m_use = m_new == -INFINITY ? 0.0f : m_new;  // a row with no key yet: exp2(-inf) = 0
      const float rescale = exp2f(m_run[i] - m_use);
      m_run[i] = m_new;
      float sum = 0.0f;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        s[i][j] = exp2f(s[i][j] - m_use);
        sum += s[i][j];
      }
      l_run[i] = l_run[i] * rescale + sum;
#pragma unroll
      for (int d = 0; d < kGroups * kVec; ++d) o[i][d] *= rescale;
    }
    if constexpr (Tr::kPInK) __syncthreads();  // every thread is done reading K^T
#pragma unroll
    for (int j = 0; j < 4; ++j)
      *reinterpret_cast<float4*>(p_t + (4 * tc + j) * kStride + 4 * tr) = make_float4(s[0][j], s[1][j], s[2][j], s[3][j]);
    __syncthreads();

    // O += P V for rows 4tr.. and dims kVec tc + 64 g.
#pragma unroll 4
    for (int c = 0; c < BN; ++c) {
      const float4 pa = *reinterpret_cast<const float4*>(p_t + c * kStride + 4 * tr);
      const float pv[4] = {pa.x, pa.y, pa.z, pa.w};
#pragma unroll
      for (int g = 0; g < kGroups; ++g) {
        float vv[4];
        if constexpr (kVec == 4) {
          const float4 vb = *reinterpret_cast<const float4*>(v_s + c * D + 64 * g + 4 * tc);
          vv[0] = vb.x, vv[1] = vb.y, vv[2] = vb.z, vv[3] = vb.w;
        } else {
          const float2 vb = *reinterpret_cast<const float2*>(v_s + c * D + 2 * tc);
          vv[0] = vb.x, vv[1] = vb.y;
        }
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
          for (int d = 0; d < kVec; ++d) o[i][g * kVec + d] = fmaf(pv[i], vv[d], o[i][g * kVec + d]);
      }
    }
  }

  float* out = static_cast<float*>(a.o) + (bh * a.seq_q + i0) * D;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    float l = l_run[i];
#pragma unroll
    for (int off = 1; off < 16; off *= 2) l += __shfl_xor_sync(0xffffffffu, l, off);
    const int r = 4 * tr + i;
    if (i0 + r >= a.seq_q) continue;
    const float inv_l = l > 0.0f ? 1.0f / l : 0.0f;  // a row that sees no key: O = 0
#pragma unroll
    for (int g = 0; g < kGroups; ++g)
#pragma unroll
      for (int d = 0; d < kVec; ++d) out[r * D + 64 * g + kVec * tc + d] = o[i][g * kVec + d] * inv_l;
    if (tc == 0) a.lse[bh * a.seq_q + i0 + r] = l > 0.0f ? (m_run[i] + log2f(l)) * 0.6931471805599453f : -INFINITY;
  }
}

template <int BM, int BN, int D>
bool launch_fa2(const AttentionArgs& a, cudaStream_t stream) {
  using Tr = Fa2Traits<D>;
  auto kernel = attention_fa2_kernel<BM, BN, D>;
  if (Tr::kSmemBytes > 48 * 1024 &&
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(Tr::kSmemBytes)) !=
          cudaSuccess)
    return false;
  const dim3 grid(static_cast<unsigned>((a.seq_q + BM - 1) / BM), static_cast<unsigned>(a.batch * a.heads));
  kernel<<<grid, kThreads, Tr::kSmemBytes, stream>>>(a);
  return true;
}

// The compiled configurations: (head_dim, block_m, block_n); v2 runs 64 x 64 at every head dim.
#define FA_FA2_CONFIGS(X) \
  X(32, 64, 64)           \
  X(64, 64, 64)           \
  X(128, 64, 64)          \
  X(256, 64, 64)

}  // namespace

std::vector<AttentionTile> attention_fa2_configs() {
  std::vector<AttentionTile> out;
#define FA_LIST(D, BM, BN) out.push_back({D, BM, BN, Fa2Traits<D>::kSmemBytes});
  FA_FA2_CONFIGS(FA_LIST)
#undef FA_LIST
  return out;
}

bool attention_fa2(const AttentionArgs& a, int block_m, int block_n, cudaStream_t stream) {
#define FA_DISPATCH(D, BM, BN) \
  if (a.head_dim == D && block_m == BM && block_n == BN) return launch_fa2<BM, BN, D>(a, stream);
  FA_FA2_CONFIGS(FA_DISPATCH)
#undef FA_DISPATCH
  return false;
}

}  // namespace fabench

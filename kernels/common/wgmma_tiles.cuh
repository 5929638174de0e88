#pragma once
// Tiles in shared memory in wgmma's 128-byte swizzle, and the GEMM steps over them that
// attention's forward (attn.wgmma, sparse.wgmma) and backward (bwd.wgmma) share. A tile of ROWS
// rows of D 16-bit elements is stored as D / 64 column blocks of ROWS x 128 bytes
// (swizzle128_offset); the same tile is a K-major operand (the reduction runs along D: Q and K in
// S = Q K^T) or an N-major B (the reduction runs along its rows: V in O = P V) or, transposed, an
// M-major A, depending only on the descriptor.
#include <cstdint>

#include "kernels/common/mma.cuh"
#include "kernels/common/wgmma.cuh"

namespace fabench {

// ROWS rows of CHUNKS 16-byte chunks from `src` (rows CHUNKS * 16 bytes apart) into a swizzled
// tile at `dst`, by THREADS threads with cp.async; rows at or past `rows_left` are zeros.
template <int ROWS, int CHUNKS, int THREADS, class T>
__device__ __forceinline__ void wg_load_rows(std::uint32_t dst, const T* src, std::int64_t rows_left) {
  constexpr int kTotal = ROWS * CHUNKS;
  const auto* bytes = reinterpret_cast<const unsigned char*>(src);
#pragma unroll
  for (int i = 0; i < (kTotal + THREADS - 1) / THREADS; ++i) {
    const int e = static_cast<int>(threadIdx.x) + i * THREADS;
    if (kTotal % THREADS != 0 && e >= kTotal) break;  // three warpgroups: a partial last round
    const int r = e / CHUNKS, c = e % CHUNKS;
    const bool valid = r < rows_left;
    const unsigned char* from = valid ? bytes + (static_cast<std::size_t>(r) * CHUNKS + c) * 16 : bytes;
    cp_async_16(dst + swizzle128_offset<ROWS>(r, c), from, valid);
  }
}

// Whether the threads cover whole passes that keep each thread's swizzle phase (three warpgroups
// over 128 rows do not: they take wg_load_rows).
template <int ROWS, int CHUNKS, int THREADS>
constexpr bool wg_whole_rows_fit() {
  return THREADS % CHUNKS == 0 && (THREADS / CHUNKS) % 8 == 0 && ROWS % (THREADS / CHUNKS) == 0;
}

// wg_load_rows for ROWS rows that all exist: a thread keeps one chunk column and swizzle phase, so
// its copies are one shared-memory and one global stride apart and take no bound (in a persistent
// sparse kernel, branch sparse-persistent, the bounds' 64-bit arithmetic was a fifth of a step's
// instructions).
template <int ROWS, int CHUNKS, int THREADS, class T>
__device__ __forceinline__ void wg_load_whole_rows(std::uint32_t dst, const T* src) {
  constexpr int kRowsPerPass = THREADS / CHUNKS;
  static_assert(wg_whole_rows_fit<ROWS, CHUNKS, THREADS>(), "whole passes that keep each thread's swizzle phase");
  const int r = static_cast<int>(threadIdx.x) / CHUNKS, c = static_cast<int>(threadIdx.x) % CHUNKS;
  const std::uint32_t to = dst + swizzle128_offset<ROWS>(r, c);
  const auto* from = reinterpret_cast<const unsigned char*>(src) + threadIdx.x * 16;
#pragma unroll
  for (int i = 0; i < ROWS / kRowsPerPass; ++i)
    cp_async_16(to + i * kRowsPerPass * 128, from + static_cast<std::size_t>(i) * THREADS * 16, true);
}

// acc = A B^T over D for a 64 x N block, issued and committed (not waited for). A: 64 rows at `a`
// inside a tile of A_ROWS rows; B: the N rows at `b` of a tile of B_ROWS rows; both K-major. D / 16
// steps of k16: a 32-byte step inside each 128-byte row, then the next column block. The first
// step overwrites acc without reading it, so acc's registers are free until the call.
template <class T, int D, int N, int A_ROWS, int B_ROWS>
__device__ __forceinline__ void wgmma_kmajor_gemm(float (&acc)[N / 2], std::uint32_t a, std::uint32_t b) {
  wgmma_fence();
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk) {
    const std::uint32_t col = kk / 4, step = (kk % 4) * 32u;
    const std::uint64_t ad = wgmma_desc(a + col * A_ROWS * 128 + step, 16, 1024);
    const std::uint64_t bd = wgmma_desc(b + col * B_ROWS * 128 + step, 16, 1024);
    if (kk == 0) {
      Wgmma<T, N, 0>::ss_overwrite(acc, ad, bd);
    } else {
      Wgmma<T, N, 0>::ss(acc, ad, bd, 1);
    }
  }
  wgmma_commit();
}

// The N of one register-A instruction over a D-wide output (at most 128) and how many cover D.
template <int D>
struct WgOutSplit {
  static constexpr int kN = D < 128 ? D : 128;
  static constexpr int kNb = D / kN;
};

// acc (64 x D) += A B for K = K_ROWS, issued and committed: A from registers (k16 fragments, as
// pack_accumulator makes them), B the K_ROWS x D rows at `b` of a tile of B_ROWS rows, N-major.
// K_ROWS / 16 steps of 16 of B's rows (2048 bytes).
template <class T, int D, int K_ROWS, int B_ROWS = K_ROWS>
__device__ __forceinline__ void wgmma_rs_gemm(float (&acc)[WgOutSplit<D>::kNb][WgOutSplit<D>::kN / 2],
                                              const std::uint32_t (&a)[K_ROWS / 16][4], std::uint32_t b) {
  constexpr int kN = WgOutSplit<D>::kN, kNb = WgOutSplit<D>::kNb;
  wgmma_fence();
#pragma unroll
  for (int nb = 0; nb < kNb; ++nb) wgmma_pin(acc[nb]);
#pragma unroll
  for (int kk = 0; kk < K_ROWS / 16; ++kk)
#pragma unroll
    for (int nb = 0; nb < kNb; ++nb) {
      const std::uint64_t bd = wgmma_desc(b + nb * (kN / 64) * B_ROWS * 128 + kk * 16 * 128, B_ROWS * 128, 1024);
      Wgmma<T, kN, 1>::rs(acc[nb], a[kk], bd, 1);
    }
  wgmma_commit();
}

// A 64 x N accumulator packed to 16 bits as N / 16 k16 A fragments: columns 16 kk..16 kk + 15
// are the n8 blocks 2 kk and 2 kk + 1 (the accumulator layout is mma.sync's A layout per k16).
template <class T, int N>
__device__ __forceinline__ void pack_accumulator(std::uint32_t (&a)[N / 16][4], const float (&acc)[N / 2]) {
#pragma unroll
  for (int kk = 0; kk < N / 16; ++kk)
#pragma unroll
    for (int x = 0; x < 4; ++x) a[kk][x] = pack2<T>(acc[8 * kk + 2 * x], acc[8 * kk + 2 * x + 1]);
}

}  // namespace fabench

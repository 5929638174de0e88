#pragma once
// One step of the online softmax (Milakov & Gimelshein 2018) over a tile of scores in shared
// memory, shared by every tiled kernel that streams keys: FlashAttention and softmax(X) @ V.
#include "kernels/common/reduce.cuh"

namespace fabench {

// Scores are in the log2 domain (already multiplied by log2 e). A warp per row: the row's new
// maximum, its scores turned into exp2(s - max), its running sum updated, and in row_rescale the
// factor exp2(old max - new max) that the caller applies to what it accumulated before. Rows that
// have seen only -inf keep max -inf, sum 0 and rescale 0. The caller syncs before and after.
template <int ROWS, int COLS, int WARPS>
__device__ __forceinline__ void online_softmax_tile(float* scores, int stride, float* row_max, float* row_sum,
                                                    float* row_rescale) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int r = warp; r < ROWS; r += WARPS) {
    float* row = scores + r * stride;
    float tile_max = -INFINITY;
    for (int c = lane; c < COLS; c += 32) tile_max = fmaxf(tile_max, row[c]);
    tile_max = warp_max(tile_max);
    const float m_old = row_max[r], m_new = fmaxf(m_old, tile_max);
    float sum = 0.0f;
    for (int c = lane; c < COLS; c += 32) {
      const float p = m_new == -INFINITY ? 0.0f : exp2f(row[c] - m_new);
      row[c] = p;
      sum += p;
    }
    sum = warp_sum(sum);  // the shuffles also order every lane's read of row_max before lane 0 writes
    if (lane == 0) {
      const float rescale = m_old == -INFINITY ? 0.0f : exp2f(m_old - m_new);
      row_rescale[r] = rescale;
      row_sum[r] = row_sum[r] * rescale + sum;
      row_max[r] = m_new;
    }
  }
}

}  // namespace fabench

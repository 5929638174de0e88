// Scratch (not part of fa-bench): does a blocked streaming read of decode's sizes run faster on
// all 132 SMs than on the 128 that decode's planner fills at batch 16 and batch 1 x 64k?
// Times stream_read.cu's blocked kernel with chosen block counts; a clean L2 before each sample
// (a read pass over another 512 MiB buffer).
#include "kernels/common/stream_read.cu"
#include <cstdio>
#include <vector>
#include <algorithm>
using namespace fabench;
int main() {
  const size_t big = 1ull << 29;
  void *buf, *flush; unsigned long long* ck;
  cudaMalloc(&buf, 600ull << 20); cudaMalloc(&flush, big); cudaMalloc(&ck, 8);
  cudaMemset(buf, 1, 600ull << 20); cudaMemset(flush, 2, big);
  cudaEvent_t e0, e1; cudaEventCreate(&e0); cudaEventCreate(&e1);
  const size_t sizes[] = {33554432ull, 268435456ull, 536870912ull};
  const int blocks[] = {128, 132, 256, 264};
  printf("bytes,kernel,blocks,median_us,min_us,gbps_median\n");
  for (size_t bytes : sizes) for (int kind = 0; kind < 2; ++kind) for (int nb : blocks) {
    std::vector<float> t;
    for (int r = 0; r < 25; ++r) {
      stream_read_kernel<8, 512, false><<<264, 512>>>(static_cast<const uint4*>(flush), big / 16, ck, kChecksumNever);
      cudaEventRecord(e0);
      if (kind == 0) stream_read_kernel<16, 256, true><<<nb, 256>>>(static_cast<const uint4*>(buf), bytes / 16, ck, kChecksumNever);
      else stream_read_kernel<8, 128, true><<<nb, 128>>>(static_cast<const uint4*>(buf), bytes / 16, ck, kChecksumNever);
      cudaEventRecord(e1); cudaEventSynchronize(e1);
      float ms; cudaEventElapsedTime(&ms, e0, e1); if (r >= 3) t.push_back(ms * 1000);
    }
    std::sort(t.begin(), t.end());
    printf("%zu,%s,%d,%.2f,%.2f,%.1f\n", bytes, kind ? "8x128" : "16x256", nb, t[t.size() / 2], t[0], bytes / (t[t.size() / 2] * 1e3));
  }
  cudaError_t e = cudaDeviceSynchronize();
  printf("status %s\n", cudaGetErrorString(e));
  return e != cudaSuccess;
}

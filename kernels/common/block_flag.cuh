#pragma once
// One block hands data in device memory to another block of the same grid: the writer stores,
// then raises a flag; the reader waits for the flag, then loads. Both blocks must be resident at
// once (a cooperative launch guarantees it), or the reader may wait forever.
//   - Writer: every thread stores its data, then block_flag_raise (a fence in every thread, a
//     barrier, then one release store by thread 0).
//   - Reader: block_flag_wait (thread 0 spins on an acquire load, then a barrier), then every
//     thread loads with ld.global.cg (__ldcg): from L2, never from a line its SM's L1 kept.
namespace fabench {

__device__ __forceinline__ void block_flag_raise(unsigned* flag) {
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) asm volatile("st.release.gpu.global.u32 [%0], %1;\n" ::"l"(flag), "r"(1u) : "memory");
}

__device__ __forceinline__ void block_flag_wait(const unsigned* flag) {
  if (threadIdx.x == 0) {
    unsigned v = 0;
    for (;;) {
      asm volatile("ld.acquire.gpu.global.u32 %0, [%1];\n" : "=r"(v) : "l"(flag) : "memory");
      if (v != 0) break;
      __nanosleep(100);
    }
  }
  __syncthreads();
}

}  // namespace fabench

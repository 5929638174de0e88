#pragma once
// Hopper's warpgroup MMA (wgmma.mma_async, PTX ISA 8.0; sm_90a only). Four consecutive warps (a
// warpgroup, 128 threads) multiply a 64 x 16 A by a 16 x N B into a 64 x N fp32 accumulator spread
// over the warpgroup's registers. B always comes from shared memory through a matrix descriptor; A
// from shared memory too, or from registers. The instruction is asynchronous: it is issued, grouped
// by commit, and waited for; registers it reads or writes must not be touched in between.
//
// Layouts (PTX ISA "Asynchronous Warpgroup Level Matrix" and "Matrix Descriptor Format"):
//   - Accumulator: warp w of the group holds rows 16w..16w+15; for n8 block j, lane 4g + t holds
//     d[4j + 0, 1] = (row g, cols 8j + 2t, 8j + 2t + 1) and d[4j + 2, 3] = (row g + 8, same cols):
//     the mma.sync m16n8 layout repeated over N.
//   - A from registers (16-bit): the mma.sync m16n8k16 A layout, so two n8 blocks of a score
//     accumulator, packed to 16 bits, are one k16 A fragment (as in attn.fa2_mma).
//   - Shared memory, 128-byte swizzle: a tile is stored in column blocks of 64 16-bit elements
//     (128 bytes); within a block, row r's 16-byte chunk c sits at r * 128 + ((c ^ (r % 8)) * 16).
//     The block must be 1024-byte aligned: the hardware applies the XOR to address bits, so a
//     descriptor may start 32 bytes (k16) into a row. K-major (the reduction runs along the row:
//     Q, K): 8-row groups 1024 bytes apart (the stride offset). N-major (V as B of P V): groups of
//     8 k-rows 1024 bytes apart (stride offset), column blocks of 64 `leading` bytes apart.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/common/wgmma_layout.h"  // wgmma_desc, swizzle128_offset

namespace fabench {

// Orders this thread's register accesses before the wgmma that follows (needed before the first
// wgmma and whenever its accumulator or A registers were written by other instructions).
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int PENDING>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(PENDING) : "memory");
}
// Shared memory written by ordinary stores or cp.async is read by wgmma through the async proxy:
// each writer fences after its writes complete, before the barrier that publishes them.
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

// A warpgroup's register budget (sm_90a; all of its warps execute it): a warp-specialized block
// gives its loading warpgroup few and its computing ones many.
template <int N>
__device__ __forceinline__ void warpgroup_registers_down() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(N));
}
template <int N>
__device__ __forceinline__ void warpgroup_registers_up() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(N));
}

// Pins accumulator registers in place across an asynchronous wgmma: the compiler may not move,
// copy or reuse them between issue and wait (it does not know the hardware writes them later).
template <int N>
__device__ __forceinline__ void wgmma_pin(float (&d)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+f"(d[i])::"memory");
}
template <int N>
__device__ __forceinline__ void wgmma_pin(std::uint32_t (&r)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+r"(r[i])::"memory");
}

// Accumulator operand lists: inline PTX cannot loop, so they are spelled out (generated once).
#define FA_WGMMA_ACC32_STR \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, " \
  "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}"
#define FA_WGMMA_ACC32_OPS \
  "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), \
  "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), \
  "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), \
  "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
#define FA_WGMMA_ACC64_STR \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, " \
  "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, " \
  "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " \
  "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}"
#define FA_WGMMA_ACC64_OPS \
  "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), \
  "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), \
  "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), \
  "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), \
  "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), \
  "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), \
  "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), \
  "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])

#define FA_WGMMA_ACC32_OUT \
  "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3]), "=f"(d[4]), "=f"(d[5]), "=f"(d[6]), "=f"(d[7]), \
  "=f"(d[8]), "=f"(d[9]), "=f"(d[10]), "=f"(d[11]), "=f"(d[12]), "=f"(d[13]), "=f"(d[14]), "=f"(d[15]), \
  "=f"(d[16]), "=f"(d[17]), "=f"(d[18]), "=f"(d[19]), "=f"(d[20]), "=f"(d[21]), "=f"(d[22]), "=f"(d[23]), \
  "=f"(d[24]), "=f"(d[25]), "=f"(d[26]), "=f"(d[27]), "=f"(d[28]), "=f"(d[29]), "=f"(d[30]), "=f"(d[31])
#define FA_WGMMA_ACC64_OUT \
  "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3]), "=f"(d[4]), "=f"(d[5]), "=f"(d[6]), "=f"(d[7]), \
  "=f"(d[8]), "=f"(d[9]), "=f"(d[10]), "=f"(d[11]), "=f"(d[12]), "=f"(d[13]), "=f"(d[14]), "=f"(d[15]), \
  "=f"(d[16]), "=f"(d[17]), "=f"(d[18]), "=f"(d[19]), "=f"(d[20]), "=f"(d[21]), "=f"(d[22]), "=f"(d[23]), \
  "=f"(d[24]), "=f"(d[25]), "=f"(d[26]), "=f"(d[27]), "=f"(d[28]), "=f"(d[29]), "=f"(d[30]), "=f"(d[31]), \
  "=f"(d[32]), "=f"(d[33]), "=f"(d[34]), "=f"(d[35]), "=f"(d[36]), "=f"(d[37]), "=f"(d[38]), "=f"(d[39]), \
  "=f"(d[40]), "=f"(d[41]), "=f"(d[42]), "=f"(d[43]), "=f"(d[44]), "=f"(d[45]), "=f"(d[46]), "=f"(d[47]), \
  "=f"(d[48]), "=f"(d[49]), "=f"(d[50]), "=f"(d[51]), "=f"(d[52]), "=f"(d[53]), "=f"(d[54]), "=f"(d[55]), \
  "=f"(d[56]), "=f"(d[57]), "=f"(d[58]), "=f"(d[59]), "=f"(d[60]), "=f"(d[61]), "=f"(d[62]), "=f"(d[63])

// D (+)= A B for one 64 x N x 16 step, T = __half or __nv_bfloat16, fp32 accumulation. ss: A from
// shared memory (K-major); rs: A from registers. TRANS_B: 0 for a K-major B (K in S = Q K^T),
// 1 for an N-major B (V in O = P V). accumulate = 0 overwrites D instead of adding to it;
// ss_overwrite does so without reading D at all, so D's registers are free before the call.
// ss<1>: A from shared memory M-major (transposed: its M runs along the 128-byte rows, as dS^T
// stored with keys as rows is dS for dQ = dS K).
template <class T, int N, int TRANS_B>
struct Wgmma;

// NREG = N / 2 accumulator registers are operands %0..%NREG-1; the operand numbers after them are
// passed as strings: ss (A descriptor, B descriptor, accumulate, trans-b, trans-a), rs (A0..A3, B,
// accumulate, trans-b).
#define FA_WGMMA(TYPE, PTX, N, NREG, SA, SB, SACC, STR, STA, RA0, RA1, RA2, RA3, RB, RACC, RTR)                     \
  template <int TRANS_B>                                                                                       \
  struct Wgmma<TYPE, N, TRANS_B> {                                                                             \
    template <int TRANS_A = 0>                                                                                 \
    __device__ __forceinline__ static void ss(float (&d)[NREG], std::uint64_t a, std::uint64_t b,              \
                                              int accumulate) {                                                \
      asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %" SACC ", 0;\n"                                        \
                   "wgmma.mma_async.sync.aligned.m64n" #N "k16.f32." PTX "." PTX "\n" FA_WGMMA_ACC##NREG##_STR \
                   ", %" SA ", %" SB ", p, 1, 1, %" STA ", %" STR ";\n}\n"                                    \
                   : FA_WGMMA_ACC##NREG##_OPS                                                                  \
                   : "l"(a), "l"(b), "r"(accumulate), "n"(TRANS_B), "n"(TRANS_A));                             \
    }                                                                                                          \
    __device__ __forceinline__ static void ss_overwrite(float (&d)[NREG], std::uint64_t a, std::uint64_t b) {      \
      asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %" SACC ", 0;\n"                                        \
                   "wgmma.mma_async.sync.aligned.m64n" #N "k16.f32." PTX "." PTX "\n" FA_WGMMA_ACC##NREG##_STR \
                   ", %" SA ", %" SB ", p, 1, 1, 0, %" STR ";\n}\n"                                            \
                   : FA_WGMMA_ACC##NREG##_OUT                                                                  \
                   : "l"(a), "l"(b), "r"(0), "n"(TRANS_B));                                                    \
    }                                                                                                          \
    __device__ __forceinline__ static void rs(float (&d)[NREG], const std::uint32_t (&a)[4], std::uint64_t b, \
                                              int accumulate) {                                                \
      asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %" RACC ", 0;\n"                                        \
                   "wgmma.mma_async.sync.aligned.m64n" #N "k16.f32." PTX "." PTX "\n" FA_WGMMA_ACC##NREG##_STR \
                   ", {%" RA0 ", %" RA1 ", %" RA2 ", %" RA3 "}, %" RB ", p, 1, 1, %" RTR ";\n}\n"              \
                   : FA_WGMMA_ACC##NREG##_OPS                                                                  \
                   : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(accumulate), "n"(TRANS_B));       \
    }                                                                                                          \
  };
FA_WGMMA(__half, "f16", 64, 32, "32", "33", "34", "35", "36", "32", "33", "34", "35", "36", "37", "38")
FA_WGMMA(__half, "f16", 128, 64, "64", "65", "66", "67", "68", "64", "65", "66", "67", "68", "69", "70")
FA_WGMMA(__nv_bfloat16, "bf16", 64, 32, "32", "33", "34", "35", "36", "32", "33", "34", "35", "36", "37", "38")
FA_WGMMA(__nv_bfloat16, "bf16", 128, 64, "64", "65", "66", "67", "68", "64", "65", "66", "67", "68", "69", "70")
#undef FA_WGMMA

}  // namespace fabench

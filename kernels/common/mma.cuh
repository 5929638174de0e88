#pragma once
// Warp-level tensor-core building blocks (sm_80+ PTX, run on sm_90): asynchronous copies into
// shared memory, ldmatrix fragment loads and mma.sync. Fragment layouts follow the PTX ISA
// ("Matrix fragments for mma.m16n8k16" and "mma.m16n8k8"): in a warp, lane = 4 * g + t, and a
// 16 x 8 fp32 accumulator gives the lane rows g and g + 8, columns 2t and 2t + 1.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

namespace fabench {

__device__ __forceinline__ std::uint32_t smem_address(const void* p) {
  return static_cast<std::uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared without passing through registers. When `valid` is false the
// destination is zero-filled (src-size 0) and `src` is not read, so tiles past the end of a
// sequence hold zeros, never stale or NaN data.
__device__ __forceinline__ void cp_async_16(std::uint32_t dst, const void* src, bool valid) {
  const int src_bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes));
}
// 16 bytes that are all inside the source (no zero fill, so no source-size operand to compute).
__device__ __forceinline__ void cp_async_16_full(std::uint32_t dst, const void* src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(dst), "l"(src));
}
// 4 bytes the same way (cp.async.ca: sizes below 16 go through L1), for rows of per-row scalars
// whose start need not be 16-byte aligned.
__device__ __forceinline__ void cp_async_4(std::uint32_t dst, const void* src, bool valid) {
  const int src_bytes = valid ? 4 : 0;
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int PENDING>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(PENDING));
}

__device__ __forceinline__ void sts32(std::uint32_t addr, std::uint32_t v) {
  asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(addr), "r"(v));
}

__device__ __forceinline__ std::uint32_t lds32(std::uint32_t addr) {
  std::uint32_t v;
  asm volatile("ld.shared.b32 %0, [%1];\n" : "=r"(v) : "r"(addr));
  return v;
}

// Byte offset of 16-byte chunk c of row r in a swizzled tile (rows of a multiple of 8 chunks):
// eight rows read at one chunk hit eight different 16-byte bank groups.
template <int CHUNKS>
__device__ __forceinline__ std::uint32_t swizzle(int r, int c) {
  return static_cast<std::uint32_t>((r * CHUNKS + (c ^ (r & 7))) * 16);
}

// Four 8 x 8 matrices of 16-bit elements (or 8 x 4 of 32-bit ones); lanes 8i..8i+7 give the row
// addresses of matrix i, and register i receives matrix i.
__device__ __forceinline__ void ldmatrix_x4(std::uint32_t (&r)[4], std::uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
// The same, each matrix transposed: a lane receives column elements instead of row elements.
__device__ __forceinline__ void ldmatrix_x4_trans(std::uint32_t (&r)[4], std::uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

// D = A B + D for one 16 x 8 fp32 tile. MmaOp<T> picks the instruction per input element type:
// m16n8k16 for fp16 and bf16, m16n8k8 for tf32 (fp32 storage, operands read as TF32).
template <class T>
struct MmaOp;

// fp16 and bf16 differ only in the instruction's type names.
#define FA_MMA_M16N8K16(TYPE, PTX)                                                                             \
  template <>                                                                                                  \
  struct MmaOp<TYPE> {                                                                                         \
    static constexpr int kK = 16;                                                                              \
    __device__ __forceinline__ static void run(float (&d)[4], const std::uint32_t (&a)[4], std::uint32_t b0,   \
                                               std::uint32_t b1) {                                             \
      asm volatile("mma.sync.aligned.m16n8k16.row.col.f32." PTX "." PTX                                        \
                   ".f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"                    \
                   : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])                                            \
                   : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));                            \
    }                                                                                                          \
  };
FA_MMA_M16N8K16(__half, "f16")
FA_MMA_M16N8K16(__nv_bfloat16, "bf16")
#undef FA_MMA_M16N8K16

// fp32 storage run as TF32: the tensor core reads the top 19 bits of each operand (truncation,
// not round-to-nearest; the dtype's tolerance covers it and it saves a cvt per operand).
template <>
struct MmaOp<float> {
  static constexpr int kK = 8;
  __device__ __forceinline__ static void run(float (&d)[4], const std::uint32_t (&a)[4], std::uint32_t b0,
                                             std::uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
};

// fp32 at about fp32 accuracy on TF32 tensor cores ("3xTF32"): each operand x is split into
// big = tf32(x) and small = tf32(x - big), and a b ~ big_a big_b + big_a small_b + small_a big_b
// (the dropped small_a small_b is ~2^-22 of a b). Three TF32 mma per product; storage is float.
struct Tf32x3 {};

// The type a tensor is stored in for an MmaOp element tag.
template <class T>
struct StorageOf {
  using type = T;
};
template <>
struct StorageOf<Tf32x3> {
  using type = float;
};

// Round to nearest TF32 (the low 13 mantissa bits cleared). Not volatile: the compiler may share
// one split among the products that reuse an operand (Q and P across tiles of S and O).
__device__ __forceinline__ std::uint32_t to_tf32(float x) {
  std::uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(x));
  return r;
}
__device__ __forceinline__ void split_tf32(std::uint32_t x, std::uint32_t& big, std::uint32_t& small) {
  big = to_tf32(__uint_as_float(x));
  small = to_tf32(__uint_as_float(x) - __uint_as_float(big));
}

template <>
struct MmaOp<Tf32x3> {
  static constexpr int kK = 8;
  __device__ __forceinline__ static void run(float (&d)[4], const std::uint32_t (&a)[4], std::uint32_t b0,
                                             std::uint32_t b1) {
    std::uint32_t a_big[4], a_small[4], b0_big, b0_small, b1_big, b1_small;
#pragma unroll
    for (int i = 0; i < 4; ++i) split_tf32(a[i], a_big[i], a_small[i]);
    split_tf32(b0, b0_big, b0_small);
    split_tf32(b1, b1_big, b1_small);
    // The small terms first, so they are not lost against a large running sum.
    MmaOp<float>::run(d, a_small, b0_big, b1_big);
    MmaOp<float>::run(d, a_big, b0_small, b1_small);
    MmaOp<float>::run(d, a_big, b0_big, b1_big);
  }
};

// Two fp32 values packed as one 32-bit register of the 16-bit type (lower half = first).
template <class T>
__device__ __forceinline__ std::uint32_t pack2(float lo, float hi);
template <>
__device__ __forceinline__ std::uint32_t pack2<__half>(float lo, float hi) {
  __half2 h = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<std::uint32_t*>(&h);
}
template <>
__device__ __forceinline__ std::uint32_t pack2<__nv_bfloat16>(float lo, float hi) {
  __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<std::uint32_t*>(&h);
}

__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

}  // namespace fabench

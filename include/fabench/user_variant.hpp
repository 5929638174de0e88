#pragma once
// The one header a kernel from outside fa-bench's tree includes (docs/byo_kernels.md).
//
// Build fa-bench with -DFABENCH_USER_KERNELS=<folder>: every .cu and .cpp file directly in that
// folder is compiled into the binary, and each `FABENCH_USER_VARIANTS(name) { ... }` block found
// at the start of a line in them is called, in file order, after the built-in families register
// theirs. The variants added there are listed by `fa-bench list`, expand under "all", and run in
// sweeps exactly as the built-in ones do: seeded inputs, outputs poisoned with NaN, validation
// against the double-precision CPU reference, timing with the L2 flushed.
//
// What this header gives (all in namespace fabench; the same types the built-in families use):
//   Variant       name, op, backend, summary, dtypes, head_dims, params, constraints, supports,
//                 workspace_bytes, launch (core/variant.hpp says what each field means)
//   Problem       the case's shape: dtype; softmax rows, cols, mask, dropout; attention batch, heads,
//                 kv_heads, seq_q, seq_k, head_dim, causal; effective_scale() (core/problem.hpp)
//   LaunchArgs    problem, params (the case's tunable values, defaults filled in), tensors (device
//                 pointers in the op's order, below), workspace, stream: launch on that stream and
//                 return; the harness synchronises and times
//   DeviceCaps    what `supports` may consult: cc_major/minor, sm_count, smem_per_block_optin
//   tensor orders softmax_tensors::{x, y, mask, lengths}, attention_tensors::{q, k, v, o, lse}, and the
//                 other ops' in core/op_tensors.hpp; a tensor the case does not use is nullptr
//   dtype helpers storage_type(DType), elem_size, to_string(DType), and dispatch_storage below
//
// Shapes and conventions (README.md, "The sweep file"):
//   softmax    x, y [rows, cols] in the storage type; y = softmax(scale * x) over each row; mask
//              `tensor`: uint8 [rows, cols], 0 drops; `lengths`: int32 [rows], row r keeps its first
//              lengths[r] columns; `causal`: row r keeps columns c <= r mod cols; a row keeping
//              nothing is all zeros; dropout uses fa-bench's Philox stream (refuse it in `supports`
//              unless you reproduce kernels/common/philox.h).
//   attention  q, o [batch, heads, seq_q, head_dim]; k, v [batch, kv_heads, seq_k, head_dim]; lse
//              float [batch, heads, seq_q] = log sum_j exp(scale * q.k_j), natural log; query head h
//              reads KV head h / (heads / kv_heads); causal keeps key j of query i when
//              j <= i + seq_k - seq_q (aligned to the bottom right); a query row that sees no key
//              has o = 0 and lse = -inf.
//   All tensors are contiguous, row-major. fp32 and tf32 store float, fp16 __half, bf16
//   __nv_bfloat16.
//
// A launcher must not change the configuration it was asked for: when a case cannot run as asked,
// say why in `supports` and the case becomes an `unsupported` row with that reason.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <stdexcept>
#include <string>

#include "core/op_tensors.hpp"
#include "core/variant.hpp"

// Opens the function that registers this file's variants: `FABENCH_USER_VARIANTS(my_kernels) {
// registry.add(...); }`, written at the start of a line, at file scope, outside any namespace.
// `name` is an identifier unique within the folder; the build finds the line and calls the
// function (explicitly, from register_all_variants: no static-initialisation order to depend on).
#define FABENCH_USER_VARIANTS(name) \
  void fabench_user_variants_##name([[maybe_unused]] ::fabench::Registry& registry)

namespace fabench {

// Runs `fn(T{})` with T the element type that `dtype` stores (float, __half or __nv_bfloat16), so a
// launcher instantiates its kernel template once per type:
//   dispatch_storage(p.dtype, [&](auto zero) { using T = decltype(zero); my_kernel<T><<<...>>>(...); });
template <class Fn>
void dispatch_storage(DType dtype, Fn&& fn) {
  switch (storage_type(dtype)) {
    case ElemType::f32: fn(float{}); return;
    case ElemType::f16: fn(__half{}); return;
    case ElemType::bf16: fn(__nv_bfloat16{}); return;
    default: break;
  }
  throw std::logic_error("dispatch_storage: dtype " + std::string(to_string(dtype)) + " stores no float type");
}

// Tensor `index` of the launch as T (an input: const T*; an output: T*).
template <class T>
const T* input(const LaunchArgs& la, std::size_t index) {
  return static_cast<const T*>(la.tensors.at(index));
}
template <class T>
T* output(const LaunchArgs& la, std::size_t index) {
  return static_cast<T*>(la.tensors.at(index));
}

}  // namespace fabench

#pragma once
// Maps the harness's Problem and tensor list onto each kernel family's own argument structs,
// so kernels never see a Problem (or JSON, or output).
#include "core/variant.hpp"
#include "kernels/attention/attention.h"
#include "kernels/attention_bwd/attention_bwd.h"
#include "kernels/cpu/flash2_cpu.h"
#include "kernels/decode/decode.h"
#include "kernels/softmax/softmax.h"
#include "kernels/softmax/softmax_matmul.h"

namespace fabench {

KernelElem kernel_elem(DType t);
SoftmaxArgs softmax_args(const LaunchArgs& la);
AttentionArgs attention_args(const Problem& p, const std::vector<void*>& tensors);
// attention_bwd's tensors (core/op_tensors.hpp's attention_bwd_tensors); may be all null (to size a
// workspace before the case runs).
AttentionBwdArgs attention_bwd_args(const Problem& p, const std::vector<void*>& tensors);
CpuAttentionArgs cpu_attention_args(const Problem& p, const std::vector<void*>& tensors);
SoftmaxMatmulArgs softmax_matmul_args(const Problem& p, const std::vector<void*>& tensors);
// decode: longest = cache_len (the longest sequence: mixed lengths reach it by construction);
// page_table null when contiguous. Tensors may be all null (to plan a case before it runs).
DecodeArgs decode_args(const Problem& p, const std::vector<void*>& tensors);
KvAppendArgs kv_append_args(const Problem& p, const std::vector<void*>& tensors);
// SMs of the current device, read once: launchers size grids from it.
int current_device_sm_count();

}  // namespace fabench

#pragma once
// Between the split-KV decode kernels and their common planner (decode_plan.cu): what each
// version needs to know to be planned, and its launcher. Host code only.
#include <cuda_runtime_api.h>

#include "kernels/decode/decode.h"

namespace fabench {

struct SplitKernelShape {
  int rows_per_block = 1;   // query rows of a GQA group one block computes
  int tile = 1;             // tokens per pipeline stage: splits are whole tiles
  int resident_blocks = 1;  // blocks of this instance that fit on one SM
  int wave_blocks = 0;      // blocks per SM the planner fills waves with (0: resident_blocks)
  // v3: a plan takes the wide instance (DecodeSplitPlan::wide) where its splits hold at least this
  // many tokens and its blocks are at most one an SM; 0: no wide instance for the case.
  std::int64_t wide_min_split_tokens = 0;
  bool compiled = false;    // false: no instance for this dtype and head dim
};

SplitKernelShape decode_split_v2_shape(const DecodeArgs& a);
bool decode_split_v2(const DecodeArgs& a, const DecodeSplitPlan& plan, void* workspace, cudaStream_t stream);

SplitKernelShape decode_split_v3_shape(const DecodeArgs& a);
bool decode_split_v3(const DecodeArgs& a, const DecodeSplitPlan& plan, void* workspace, cudaStream_t stream);

}  // namespace fabench

#pragma once
// What attention_bwd shares with attention_fwd_bwd: head dims, models and the gradients' validation.
#include <cstdint>
#include <vector>

#include "ops/op.hpp"
#include "reference/attention_bwd_reference.hpp"

namespace fabench {

// The head dims the backward ops accept (a config error otherwise): 64, 128, 256.
const std::vector<std::int64_t>& attention_bwd_head_dims();

// 2.5 x the forward's FLOPs (FlashAttention's convention: five matrix products against the
// forward's two), causal counting the kept scores.
double attention_bwd_flops(const Problem& p);
// The fewest bytes: Q, K, V, O, dO and the fp32 lse read once, dQ, dK, dV written once. D (one fp32
// a query row) and a kernel's fp32 dQ accumulator are intermediates and count nothing.
double attention_bwd_bytes(const Problem& p);

// The reference's view of decoded inputs, with D computed into `delta` (kept alive by the caller).
AttentionBwdInputs<float> attention_bwd_inputs(const Problem& p, const float* q, const float* k, const float* v,
                                               const float* o, const float* d_o, const float* lse,
                                               std::vector<double>& delta);

// O and the lse of the forward over Q, K, V (decoded, [batch, heads or kv_heads, seq, d]) computed
// in double on the current CUDA device (kernels/attention_bwd/attention_forward_fp64.h): what
// derive_inputs uses when the runner lends its device (unless FABENCH_INPUTS_ON_HOST=1), the
// host's attention_forward_reference otherwise. False, with nothing written, when there is no
// device, its memory is short or the kernel does not take the shape; a failing copy or kernel
// throws CudaError (the runner classifies it as it does a variant's).
bool attention_forward_on_device(const Problem& p, const float* q, const float* k, const float* v, double* o,
                                 double* lse);

// dQ (sampled query rows), dK and dV (sampled key rows), each covering every batch and head, each
// by relative L2 against the reference: folded into `total`, which is returned.
Validation validate_attention_gradients(const Problem& p, const AttentionBwdInputs<float>& in, const HostTensor& dq,
                                        const HostTensor& dk, const HostTensor& dv, const ValidationSettings& s,
                                        Validation& total);

}  // namespace fabench

// Registered attention-backward variants (op attention_bwd). The GPU kernels come next, in
// kernels/attention_bwd/: bwd.naive (P and dP materialised in a workspace, oom where it does not
// fit), bwd.fa2 (FlashAttention-2's backward on CUDA cores in fp32), bwd.fa2_mma (tensor cores,
// with a deterministic dQ option) and bwd.wgmma (Hopper).
#include <string>
#include <vector>

#include "core/op_tensors.hpp"
#include "core/variant.hpp"
#include "ops/attention_bwd.hpp"
#include "ops/attention_shape.hpp"
#include "ops/registry.hpp"
#include "variants/register.hpp"

namespace fabench {

namespace {

// The single-threaded reference does about 5 multiply-adds per score and head-dim element (two
// dot products, three updates) at about 10^9 a second: cases above 2^26 scores x head_dim (about
// 0.3 s a launch) are left to the GPU variants.
constexpr double kCpuReferenceLimit = double(std::int64_t{1} << 26);

std::optional<std::string> cpu_reference_limit(const Problem& p, const Params&, const DeviceCaps&) {
  const double scores_x_d = attention_forward_flops(p) / 4.0;  // kept scores x head_dim, every batch and head
  if (scores_x_d > kCpuReferenceLimit)
    return std::string("more than 2^26 scores x head_dim, the CPU reference's limit (tenths of a second a launch); "
                       "a GPU variant runs it");
  return std::nullopt;
}

// The CPU reference as a timed variant, single-threaded: the stored inputs decoded, every
// gradient in double in one pass over the visible (query, key) pairs, stored in the dtype.
void bwd_cpu_reference(const LaunchArgs& la) {
  namespace T = attention_bwd_tensors;
  const Problem& p = la.problem;
  const std::vector<TensorSpec> specs = op_tensors(p);
  auto decode = [&](std::size_t index) {
    std::vector<float> out(specs[index].count);
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = load_float(la.tensors[index], specs[index].type, i);
    return out;
  };
  const auto q = decode(T::q), k = decode(T::k), v = decode(T::v), o = decode(T::o), d_o = decode(T::d_o),
             lse = decode(T::lse);
  std::vector<double> delta;
  const auto in = attention_bwd_inputs(p, q.data(), k.data(), v.data(), o.data(), d_o.data(), lse.data(), delta);
  std::vector<double> dq(specs[T::dq].count), dk(specs[T::dk].count), dv(specs[T::dv].count);
  attention_bwd_reference(p, in, dq.data(), dk.data(), dv.data());
  auto store = [&](std::size_t index, const std::vector<double>& values) {
    for (std::size_t i = 0; i < values.size(); ++i)
      store_float(la.tensors[index], specs[index].type, i, static_cast<float>(values[i]));
  };
  store(T::dq, dq);
  store(T::dk, dk);
  store(T::dv, dv);
}

}  // namespace

void register_attention_bwd_variants(Registry& r) {
  r.add(Variant{"bwd.cpu_reference", OpKind::attention_bwd, Backend::cpu,
                "the CPU reference (double accumulation): D = rowsum(dO * O), P from the lse, dV, dP, dS, dQ, dK in "
                "one pass over the visible scores, single-threaded",
                {DType::fp32, DType::fp16, DType::bf16}, {}, {},
                "host memory; dQ, dK, dV held in double; at most 2^26 scores x head_dim", cpu_reference_limit,
                nullptr, bwd_cpu_reference});
}

}  // namespace fabench

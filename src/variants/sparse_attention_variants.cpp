// Registered sparse-attention variants. The GPU kernels (sparse.masked, sparse.block_skip,
// sparse.wgmma) come next; they read the block layout of core/op_tensors.hpp's
// sparse_attention_tensors.

#include <string>
#include <vector>

#include "core/op_tensors.hpp"
#include "core/variant.hpp"
#include "ops/registry.hpp"
#include "ops/sparse_attention.hpp"
#include "reference/attention_reference.hpp"
#include "variants/register.hpp"

namespace fabench {

namespace {

// The single-threaded CPU reference runs at about 10^9 multiply-adds a second: cases above this many
// kept scores x head_dim (about 0.2 s a launch) are left to the GPU variants.
constexpr double kCpuReferenceLimit = double(std::int64_t{1} << 28);

// The CPU reference as a timed variant, single-threaded: every row over its kept keys.
void sparse_cpu_reference(const LaunchArgs& la) {
  namespace T = sparse_attention_tensors;
  const Problem& p = la.problem;
  const ElemType et = storage_type(p.dtype);
  const std::vector<TensorSpec> specs = op_tensors(p);
  auto decode = [&](std::size_t index) {
    std::vector<float> out(specs[index].count);
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = load_float(la.tensors[index], et, i);
    return out;
  };
  const auto q = decode(T::q), k = decode(T::k), v = decode(T::v);
  const auto mask = sparse_mask_of(p);
  auto* lse = static_cast<float*>(la.tensors[T::lse]);
  std::vector<double> o_row(static_cast<std::size_t>(p.head_dim));
  std::vector<KeyRange> ranges;
  for (std::int64_t b = 0; b < p.batch; ++b)
    for (std::int64_t h = 0; h < p.heads; ++h)
      for (std::int64_t i = 0; i < p.seq_q; ++i) {
        mask->row(mask->index(b, h), i, ranges);
        double row_lse = 0;
        attention_reference_row(p, q.data(), k.data(), v.data(), b, h, i, ranges.data(), ranges.size(), o_row.data(),
                                &row_lse);
        const std::int64_t row = (b * p.heads + h) * p.seq_q + i;
        for (std::int64_t c = 0; c < p.head_dim; ++c)
          store_float(la.tensors[T::o], et, static_cast<std::size_t>(row * p.head_dim + c),
                      static_cast<float>(o_row[c]));
        lse[row] = static_cast<float>(row_lse);
      }
}

std::optional<std::string> cpu_reference_limit(const Problem& p, const Params&, const DeviceCaps&) {
  const double work = static_cast<double>(sparse_summary_of(p).kept_total) * static_cast<double>(p.head_dim);
  if (work > kCpuReferenceLimit)
    return std::string("more than 2^28 kept scores x head_dim, the CPU reference's limit (tenths of a second a "
                       "launch); a GPU variant runs it");
  return std::nullopt;
}

}  // namespace

void register_sparse_attention_variants(Registry& r) {
  r.add(Variant{"sparse.cpu_reference", OpKind::sparse_attention, Backend::cpu,
                "the CPU reference (double accumulation) over each row's kept keys, single-threaded",
                {DType::fp32, DType::fp16, DType::bf16}, {}, {},
                "host memory; O(seq_k) scratch per row; at most 2^28 kept scores x head_dim", cpu_reference_limit,
                nullptr, sparse_cpu_reference});
}

}  // namespace fabench

// Registered softmax variants. Each wraps a kernel launcher from kernels/softmax/.
#include "core/op_tensors.hpp"
#include "core/variant.hpp"
#include "reference/softmax_reference.hpp"
#include "variants/kernel_args.hpp"
#include "variants/register.hpp"

#include <fmt/format.h>
#include <vector>

namespace fabench {

namespace {

// The CPU reference as a timed variant: what the GPU versions are compared against on any machine.
void softmax_cpu_reference(const LaunchArgs& la) {
  const Problem& p = la.problem;
  const ElemType et = storage_type(p.dtype);
  const auto* x = static_cast<const unsigned char*>(la.tensors[softmax_tensors::x]);
  const auto* mask = static_cast<const std::uint8_t*>(la.tensors[softmax_tensors::mask]);
  const auto* lengths = static_cast<const std::int32_t*>(la.tensors[softmax_tensors::lengths]);
  std::vector<float> x_row(static_cast<std::size_t>(p.cols));
  std::vector<double> y_row(static_cast<std::size_t>(p.cols));
  for (std::int64_t r = 0; r < p.rows; ++r) {
    for (std::int64_t c = 0; c < p.cols; ++c) x_row[c] = load_float(x, et, static_cast<std::size_t>(r * p.cols + c));
    softmax_reference_row(p, r, x_row.data(), mask ? mask + r * p.cols : nullptr, lengths ? lengths[r] : 0,
                          y_row.data());
    for (std::int64_t c = 0; c < p.cols; ++c)
      store_float(la.tensors[softmax_tensors::y], et, static_cast<std::size_t>(r * p.cols + c),
                  static_cast<float>(y_row[c]));
  }
}

}  // namespace

void register_softmax_variants(Registry& r) {
  const std::vector<DType> all_float = {DType::fp32, DType::fp16, DType::bf16};
  r.add(Variant{
      "softmax.cpu_reference", OpKind::softmax, Backend::cpu,
      "the CPU reference (double accumulation), single-threaded, timed with a steady clock", all_float, {}, {},
      "host memory; every mask kind and dropout", nullptr, nullptr, softmax_cpu_reference});
  r.add(Variant{
      "softmax.naive", OpKind::softmax, Backend::gpu,
      "v1: one thread per row, three passes over global memory (max, sum, write)", all_float, {},
      {{"block_size", 256, {64, 128, 256, 512}, "threads per block (one row each)"}},
      "every mask kind and dropout; rows < 2^31",
      [](const Problem& p, const Params&, const DeviceCaps&) -> std::optional<std::string> {
        if (p.rows >= (std::int64_t{1} << 31)) return fmt::format("rows {} >= 2^31", p.rows);
        return std::nullopt;
      },
      nullptr,
      [](const LaunchArgs& la) {
        softmax_naive(softmax_args(la), static_cast<int>(la.params.at("block_size")), la.stream);
      }});
}

}  // namespace fabench

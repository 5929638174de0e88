// Registered softmax variants. Each wraps a kernel launcher from kernels/softmax/.
#include "core/op_tensors.hpp"
#include "core/variant.hpp"
#include "reference/softmax_reference.hpp"
#include "variants/cudnn_softmax.hpp"
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

// Block-per-row kernels put rows on grid.x.
std::optional<std::string> fits_grid(const Problem& p, const Params&, const DeviceCaps&) {
  if (p.rows >= (std::int64_t{1} << 31)) return fmt::format("rows {} >= 2^31", p.rows);
  return std::nullopt;
}

// Whether softmax.fused runs its kernel without mask and dropout code (more of the row per thread).
bool fused_plain(const Problem& p) { return p.mask == MaskKind::none && p.dropout == 0; }

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
      "every mask kind and dropout; rows < 2^31", fits_grid,
      nullptr,
      [](const LaunchArgs& la) {
        softmax_naive(softmax_args(la), static_cast<int>(la.params.at("block_size")), la.stream);
      }});
  r.add(Variant{
      "softmax.block", OpKind::softmax, Backend::gpu,
      "v2: one block per row, shared-memory tree reductions, three passes over global memory", all_float, {},
      {{"block_size", 256, {128, 256, 512, 1024}, "threads per row"}}, "every mask kind and dropout", fits_grid,
      nullptr,
      [](const LaunchArgs& la) {
        softmax_block(softmax_args(la), static_cast<int>(la.params.at("block_size")), la.stream);
      }});
  r.add(Variant{
      "softmax.warp", OpKind::softmax, Backend::gpu,
      "v3: one warp per row, the row in registers, shuffle reductions: one read, one write", all_float, {},
      {{"warps_per_block", 4, {1, 2, 4, 8}, "rows per block (one warp each)"}},
      "cols <= 1024 (32 per lane); every mask kind and dropout",
      [](const Problem& p, const Params& params, const DeviceCaps& caps) -> std::optional<std::string> {
        if (p.cols > 1024) return fmt::format("cols {} > 1024: the row does not fit in one warp's registers", p.cols);
        return fits_grid(p, params, caps);
      },
      nullptr,
      [](const LaunchArgs& la) {
        softmax_warp(softmax_args(la), static_cast<int>(la.params.at("warps_per_block")), la.stream);
      }});
  r.add(Variant{
      "softmax.online", OpKind::softmax, Backend::gpu,
      "v4: one block per row, max and sum in one online pass, then the write pass", all_float, {},
      {{"block_size", 256, {128, 256, 512, 1024}, "threads per row"}}, "any cols; every mask kind and dropout",
      fits_grid, nullptr,
      [](const LaunchArgs& la) {
        softmax_online(softmax_args(la), static_cast<int>(la.params.at("block_size")), la.stream);
      }});
  r.add(Variant{
      "softmax.fused", OpKind::softmax, Backend::gpu,
      "v5: 16-byte accesses, row in registers (warp, block or cluster per row), scale+mask+dropout fused in one "
      "pass; long rows with a mask or dropout streamed through shared memory by persistent clusters",
      all_float, {},
      {{"threads_per_row", 0, {0, 32, 128, 256, 512, 1024}, "0: chosen from the shape; else threads of each block"},
       {"cluster_blocks", 0, {0, 1, 2, 4, 8, 16},
        "0: chosen from the shape; else blocks sharing a row (a cluster; 16 is a non-portable size Hopper allows)"}},
      "on chip: cols a multiple of 4 (fp32) or 8 (fp16/bf16), up to 131072 fp32 with a cluster of 8 blocks; "
      "other shapes run v4's kernel (threads_per_row=0 only); threads_per_row or cluster_blocks set: the row in "
      "registers, never streamed",
      [](const Problem& p, const Params& params, const DeviceCaps& caps) -> std::optional<std::string> {
        const int tpr = static_cast<int>(params.at("threads_per_row"));
        const int cluster = static_cast<int>(params.at("cluster_blocks"));
        SoftmaxFusedPlan plan =
            softmax_fused_plan(p.rows, p.cols, kernel_elem(p.dtype), fused_plain(p), tpr, cluster, caps.sm_count);
        if ((tpr != 0 || cluster != 0) && !plan.on_chip)
          return fmt::format("threads_per_row={} cluster_blocks={}: {}", tpr, cluster, plan.reason);
        return fits_grid(p, params, caps);
      },
      nullptr,
      [](const LaunchArgs& la) {
        // The plan depends only on the shape; recomputing it per launch costs nanoseconds.
        const int sm_count = current_device_sm_count();
        const Problem& p = la.problem;
        softmax_fused(softmax_args(la),
                      softmax_fused_plan(p.rows, p.cols, kernel_elem(p.dtype), fused_plain(p),
                                         static_cast<int>(la.params.at("threads_per_row")),
                                         static_cast<int>(la.params.at("cluster_blocks")), sm_count),
                      la.stream);
      }});
  r.add(Variant{
      "softmax.cudnn", OpKind::softmax, Backend::gpu,
      "cuDNN cudnnSoftmaxForward (ACCURATE, INSTANCE mode): the library peer, same process", all_float, {}, {},
      "no scale, mask or dropout; rows and cols < 2^31; needs libcudnn.so.9",
      [](const Problem& p, const Params&, const DeviceCaps&) -> std::optional<std::string> {
        if (auto why = cudnn_unavailable_reason(); !why.empty()) return why;
        if (p.effective_scale() != 1.0) return std::string("cuDNN softmax has no input scale");
        if (p.mask != MaskKind::none) return std::string("cuDNN softmax has no mask");
        if (p.dropout > 0) return std::string("cuDNN softmax has no dropout");
        if (p.rows >= (std::int64_t{1} << 31) || p.cols >= (std::int64_t{1} << 31)) return std::string("shape >= 2^31");
        return std::nullopt;
      },
      nullptr,
      [](const LaunchArgs& la) {
        const Problem& p = la.problem;
        cudnn_softmax_forward(la.tensors[softmax_tensors::x], la.tensors[softmax_tensors::y], p.rows, p.cols,
                              kernel_elem(p.dtype), la.stream);
      }});
}

}  // namespace fabench

#include "variants/attention_tiles.hpp"

#include <fmt/format.h>

namespace fabench {

std::int64_t param_or_zero(const Params& params, const char* name) {
  auto it = params.find(name);
  return it == params.end() ? 0 : it->second;
}

bool tile_matches(const AttentionTile& t, const Params& params) {
  auto fits = [&](const char* name, int value) {
    const std::int64_t asked = param_or_zero(params, name);
    return asked == 0 || asked == value;
  };
  return fits("block_m", t.block_m) && fits("block_n", t.block_n) && fits("warps", t.warps) &&
         fits("stages", t.stages) && fits("pipeline", t.pipeline);
}

std::string tiles_text(const std::vector<AttentionTile>& configs, bool with_warps_stages) {
  std::string s = with_warps_stages ? "compiled (elem, head_dim, block_m, block_n, warps, stages, shared KiB):"
                                    : "compiled (elem, head_dim, block_m, block_n, pipeline, shared KiB):";
  for (const AttentionTile& t : configs) {
    const char* elem = t.elem == KernelElem::f16    ? "fp16"
                       : t.elem == KernelElem::bf16 ? "bf16"
                       : t.tf32x3                   ? "fp32"
                                                    : "tf32";
    s += with_warps_stages ? fmt::format(" ({}, {}, {}, {}, {}, {}, {:.0f})", elem, t.head_dim, t.block_m,
                                         t.block_n, t.warps, t.stages, t.smem_bytes / 1024.0)
                           : fmt::format(" ({}, {}, {}, {}, {}, {:.0f})", elem, t.head_dim, t.block_m, t.block_n,
                                         t.pipeline, t.smem_bytes / 1024.0);
  }
  return s;
}

}  // namespace fabench

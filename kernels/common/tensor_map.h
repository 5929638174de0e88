#pragma once
// Tensor maps for the copy engine's tiled loads (TMA, cp.async.bulk.tensor on sm_90): built by the
// driver's cuTensorMapEncodeTiled, reached through the runtime's entry-point query, so nothing
// links against libcuda. Host code; a map travels to a kernel as a __grid_constant__ parameter.
#include <cuda.h>

#include <array>
#include <cstdint>

#include "kernels/common/kernel_types.h"

namespace fabench {

// A contiguous row-major [planes][rows][cols] tensor of 16-bit elements (f16 or bf16), read in boxes
// of box_rows rows x 64 columns (128 bytes) into shared memory with the 128-byte swizzle, wgmma's
// layout: a box is one 128-byte column block of a tile, chunk c of row r at chunk c ^ (r mod 8).
// Rows at or past `rows` (and columns past `cols`) read as zeros, so a box never spills into the
// next plane. False when the element is not 16-bit or the driver refuses the map.
bool make_swizzled_tile_map(CUtensorMap& map, const void* base, KernelElem elem, std::uint64_t planes,
                            std::uint64_t rows, std::uint64_t cols, std::uint32_t box_rows);

// One map: make_swizzled_tile_map's arguments. elem f32 makes the same over fp32 elements, in boxes
// of box_rows rows x 32 columns (128 bytes), for the copy engine's reductions (tma_reduce_add_3d)
// from a swizzled staging tile (cols a multiple of 4).
struct TileMapSpec {
  const void* base = nullptr;
  KernelElem elem = KernelElem::f32;
  std::uint64_t planes = 0, rows = 0, cols = 0;
  std::uint32_t box_rows = 0;
  bool operator==(const TileMapSpec& o) const {
    return base == o.base && elem == o.elem && planes == o.planes && rows == o.rows && cols == o.cols &&
           box_rows == o.box_rows;
  }
  bool operator!=(const TileMapSpec& o) const { return !(*this == o); }
};
bool make_tile_map(CUtensorMap& map, const TileMapSpec& spec);

// A launcher's N maps, encoded again only when one of them changes (an encode is a driver call). No
// lock: each launcher keeps its own and issues its launches one at a time.
template <int N>
class TileMapCache {
 public:
  // The maps of `specs` in their order, or null when the driver refused one.
  const CUtensorMap* maps(const std::array<TileMapSpec, N>& specs) {
    if (!ok_ || specs != specs_) {
      ok_ = true;
      for (int i = 0; i < N; ++i) ok_ = ok_ && make_tile_map(maps_[i], specs[i]);
      specs_ = specs;
    }
    return ok_ ? maps_.data() : nullptr;
  }

 private:
  std::array<CUtensorMap, N> maps_{};
  std::array<TileMapSpec, N> specs_{};
  bool ok_ = false;
};

}  // namespace fabench

#pragma once
// Tensor maps for the copy engine's tiled loads (TMA, cp.async.bulk.tensor on sm_90): built by the
// driver's cuTensorMapEncodeTiled, reached through the runtime's entry-point query, so nothing
// links against libcuda. Host code; a map travels to a kernel as a __grid_constant__ parameter.
#include <cuda.h>

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
// The same over fp32 elements, in boxes of box_rows rows x 32 columns (128 bytes), for the copy
// engine's reductions (tma_reduce_add_3d) from a swizzled staging tile. cols a multiple of 4.
bool make_swizzled_f32_tile_map(CUtensorMap& map, void* base, std::uint64_t planes, std::uint64_t rows,
                                std::uint64_t cols, std::uint32_t box_rows);

}  // namespace fabench

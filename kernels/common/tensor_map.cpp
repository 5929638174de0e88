// make_swizzled_tile_map and make_tile_map (tensor_map.h).
#include "kernels/common/tensor_map.h"

#include <cuda_runtime_api.h>
#include <cudaTypedefs.h>

namespace fabench {

namespace {

// The driver's encoder, looked up once (null when this driver has none).
PFN_cuTensorMapEncodeTiled_v12000 tiled_encoder() {
  static const PFN_cuTensorMapEncodeTiled_v12000 fn = [] {
    void* entry = nullptr;
    cudaDriverEntryPointQueryResult found{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &entry, 12000, cudaEnableDefault, &found) !=
            cudaSuccess ||
        found != cudaDriverEntryPointSuccess)
      return static_cast<PFN_cuTensorMapEncodeTiled_v12000>(nullptr);
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(entry);
  }();
  return fn;
}

// A [planes][rows][cols] map of `type` (elem_bytes each) read in boxes of box_cols x box_rows (box_cols
// x elem_bytes = 128: one swizzled column block).
bool encode_swizzled_map(CUtensorMap& map, const void* base, CUtensorMapDataType type, std::uint64_t elem_bytes,
                         std::uint64_t planes, std::uint64_t rows, std::uint64_t cols, std::uint32_t box_cols,
                         std::uint32_t box_rows) {
  const PFN_cuTensorMapEncodeTiled_v12000 encode = tiled_encoder();
  if (encode == nullptr || base == nullptr || planes == 0 || rows == 0 || cols == 0) return false;
  const cuuint64_t dims[3] = {cols, rows, planes};
  const cuuint64_t strides[2] = {cols * elem_bytes, rows * cols * elem_bytes};  // bytes between rows, planes
  const cuuint32_t box[3] = {box_cols, box_rows, 1};
  const cuuint32_t element_strides[3] = {1, 1, 1};
  return encode(&map, type, 3, const_cast<void*>(base), dims, strides, box, element_strides,
                CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

}  // namespace

bool make_swizzled_tile_map(CUtensorMap& map, const void* base, KernelElem elem, std::uint64_t planes,
                            std::uint64_t rows, std::uint64_t cols, std::uint32_t box_rows) {
  if (elem == KernelElem::f16)
    return encode_swizzled_map(map, base, CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 2, planes, rows, cols, 64, box_rows);
  if (elem == KernelElem::bf16)
    return encode_swizzled_map(map, base, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, planes, rows, cols, 64, box_rows);
  return false;
}

bool make_tile_map(CUtensorMap& map, const TileMapSpec& spec) {
  if (spec.elem == KernelElem::f32)
    return encode_swizzled_map(map, spec.base, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 4, spec.planes, spec.rows, spec.cols,
                               32, spec.box_rows);
  return make_swizzled_tile_map(map, spec.base, spec.elem, spec.planes, spec.rows, spec.cols, spec.box_rows);
}

}  // namespace fabench

#include "core/host_tensor.hpp"

#include <cstring>

namespace fabench {

void HostTensor::decode() {
  if (spec.type != ElemType::f32 && spec.type != ElemType::f16 && spec.type != ElemType::bf16) return;
  values.resize(spec.count);
  if (spec.type == ElemType::f32) {
    std::memcpy(values.data(), bytes.data(), spec.count * 4);
    return;
  }
  for (std::size_t i = 0; i < spec.count; ++i) values[i] = load_float(bytes.data(), spec.type, i);
}

}  // namespace fabench

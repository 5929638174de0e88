#include "core/dtype.hpp"

#include <cmath>
#include <cstring>
#include <stdexcept>

namespace fabench {

std::string_view to_string(DType t) {
  switch (t) {
    case DType::fp32: return "fp32";
    case DType::tf32: return "tf32";
    case DType::fp16: return "fp16";
    case DType::bf16: return "bf16";
  }
  return "?";
}

std::optional<DType> parse_dtype(std::string_view s) {
  for (DType t : {DType::fp32, DType::tf32, DType::fp16, DType::bf16})
    if (to_string(t) == s) return t;
  return std::nullopt;
}

const char* dtype_choices() { return "fp32, tf32, fp16, bf16"; }

ElemType storage_type(DType t) {
  switch (t) {
    case DType::fp16: return ElemType::f16;
    case DType::bf16: return ElemType::bf16;
    default: return ElemType::f32;
  }
}

std::size_t elem_size(ElemType t) {
  switch (t) {
    case ElemType::f16:
    case ElemType::bf16: return 2;
    case ElemType::u8: return 1;
    default: return 4;
  }
}

static std::uint32_t float_bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
static float bits_float(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

std::uint16_t float_to_bf16_bits(float f) {
  std::uint32_t u = float_bits(f);
  if (std::isnan(f)) return 0x7fc0;
  u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest, ties to even
  return static_cast<std::uint16_t>(u >> 16);
}

float bf16_bits_to_float(std::uint16_t h) { return bits_float(static_cast<std::uint32_t>(h) << 16); }

std::uint16_t float_to_half_bits(float f) {
  std::uint32_t u = float_bits(f);
  std::uint32_t sign = (u >> 16) & 0x8000u;
  std::uint32_t abs = u & 0x7fffffffu;
  if (abs >= 0x7f800000u) return static_cast<std::uint16_t>(sign | (abs > 0x7f800000u ? 0x7e00u : 0x7c00u));
  if (abs >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // rounds past 65504
  if (abs < 0x38800000u) {
    // Subnormal half: value = m * 2^-24. Let the FPU round by adding a magic bias.
    float magic = bits_float(abs) + 0.5f;  // 0.5 = 2^-1: places 2^-24 at the last mantissa bit
    return static_cast<std::uint16_t>(sign | (float_bits(magic) - float_bits(0.5f)));
  }
  std::uint32_t mant_odd = (abs >> 13) & 1u;
  abs += 0xc8000fffu + mant_odd;  // rebias exponent (-112 << 23) and round to nearest even
  return static_cast<std::uint16_t>(sign | (abs >> 13));
}

float half_bits_to_float(std::uint16_t h) {
  std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t exp = (h >> 10) & 0x1fu;
  std::uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  }
  if (exp == 31) return bits_float(sign | 0x7f800000u | (mant << 13));
  return bits_float(sign | ((exp + 112u) << 23) | (mant << 13));
}

void store_float(void* data, ElemType t, std::size_t i, float v) {
  switch (t) {
    case ElemType::f32: static_cast<float*>(data)[i] = v; return;
    case ElemType::f16: static_cast<std::uint16_t*>(data)[i] = float_to_half_bits(v); return;
    case ElemType::bf16: static_cast<std::uint16_t*>(data)[i] = float_to_bf16_bits(v); return;
    default: throw std::logic_error("store_float: not a floating-point tensor");
  }
}

float load_float(const void* data, ElemType t, std::size_t i) {
  switch (t) {
    case ElemType::f32: return static_cast<const float*>(data)[i];
    case ElemType::f16: return half_bits_to_float(static_cast<const std::uint16_t*>(data)[i]);
    case ElemType::bf16: return bf16_bits_to_float(static_cast<const std::uint16_t*>(data)[i]);
    default: throw std::logic_error("load_float: not a floating-point tensor");
  }
}

}  // namespace fabench

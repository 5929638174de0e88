#pragma once
// Element types of problems (what the user asks for) and of stored tensors (what sits in memory).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fabench {

// The precision a case runs in. tf32 stores fp32 and lets matrix units round operands to TF32.
enum class DType { fp32, tf32, fp16, bf16 };

// What a tensor holds in memory.
enum class ElemType { f32, f16, bf16, u8, i32 };

std::string_view to_string(DType t);
std::optional<DType> parse_dtype(std::string_view s);
const char* dtype_choices();  // "fp32, tf32, fp16, bf16", for error messages

ElemType storage_type(DType t);
std::size_t elem_size(ElemType t);

// Host conversions, round to nearest even; used to build inputs and read outputs.
std::uint16_t float_to_half_bits(float f);
float half_bits_to_float(std::uint16_t h);
std::uint16_t float_to_bf16_bits(float f);
float bf16_bits_to_float(std::uint16_t h);

// Stores value v as element i of a buffer of type t (f32/f16/bf16 only), and reads it back.
void store_float(void* data, ElemType t, std::size_t i, float v);
float load_float(const void* data, ElemType t, std::size_t i);

}  // namespace fabench

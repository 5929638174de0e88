#pragma once
// Element counts of tensors, multiplied with overflow checks. A config may ask for any shape; a
// product past kMaxTensorElements (or past int64) is an error that expand_plan reports with the
// experiment's JSON path, never a wrapped count that sizes a small buffer for a large problem.
// Shapes that fit but are too large for the machine are left to allocation (an oom row).
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>

namespace fabench {

// 2^60 elements: byte counts of up to 8-byte elements still fit int64 and size_t.
constexpr std::int64_t kMaxTensorElements = std::int64_t{1} << 60;

class TensorTooLarge : public std::length_error {
 public:
  using std::length_error::length_error;
};

// The product of `extents`; throws TensorTooLarge naming `what` if it passes kMaxTensorElements
// or an extent is negative.
inline std::int64_t checked_elements(const char* what, std::initializer_list<std::int64_t> extents) {
  std::int64_t n = 1;
  bool over = false;
  std::string text;
  for (std::int64_t e : extents) {
    text += (text.empty() ? "" : " x ") + std::to_string(e);
    if (e < 0 || __builtin_mul_overflow(n, e, &n) || n > kMaxTensorElements) over = true;
  }
  if (over)
    throw TensorTooLarge(std::string(what) + " [" + text + "] has more than 2^60 elements (or a negative extent)");
  return n;
}

inline std::size_t checked_count(const char* what, std::initializer_list<std::int64_t> extents) {
  return static_cast<std::size_t>(checked_elements(what, extents));
}

}  // namespace fabench

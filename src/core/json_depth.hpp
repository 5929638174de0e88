#pragma once
// nlohmann's parser recurses once per nesting level, so a file of 100,000 '[' overflows the stack
// (a segmentation fault, not an error). Every JSON text fa-bench reads is scanned first: one pass,
// no recursion, brackets counted outside strings.
#include <cstddef>
#include <optional>
#include <string_view>

namespace fabench {

// Deeper than any file fa-bench writes or reads (a sweep file nests about 6 levels).
constexpr int kMaxJsonDepth = 64;

// The byte offset of the first '[' or '{' that opens level max_depth + 1, or nothing.
inline std::optional<std::size_t> json_too_deep(std::string_view text, int max_depth = kMaxJsonDepth) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return i;
    } else if (c == ']' || c == '}') {
      if (depth > 0) --depth;  // unbalanced text is the parser's to report
    }
  }
  return std::nullopt;
}

}  // namespace fabench

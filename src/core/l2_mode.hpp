#pragma once
// What the L2 holds when a timed sample starts (the sweep file's "timing.l2").
#include <optional>
#include <string>

namespace fabench {

enum class L2Mode {
  cold,   // flushed, and clean: nothing dirty for the measured kernel to write back (the default)
  dirty,  // flushed by writes only, as nvbench and triton's do_bench do: full of dirty lines
  hot     // not flushed: whatever the previous sample left
};

inline const char* to_string(L2Mode m) {
  switch (m) {
    case L2Mode::cold: return "cold";
    case L2Mode::dirty: return "dirty";
    case L2Mode::hot: return "hot";
  }
  return "?";
}

inline std::optional<L2Mode> parse_l2_mode(const std::string& s) {
  for (L2Mode m : {L2Mode::cold, L2Mode::dirty, L2Mode::hot})
    if (s == to_string(m)) return m;
  return std::nullopt;
}

}  // namespace fabench

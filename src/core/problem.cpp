#include "core/problem.hpp"

#include <fmt/format.h>

namespace fabench {

std::string_view to_string(MaskKind m) {
  switch (m) {
    case MaskKind::none: return "none";
    case MaskKind::causal: return "causal";
    case MaskKind::tensor: return "tensor";
    case MaskKind::lengths: return "lengths";
  }
  return "?";
}

std::optional<MaskKind> parse_mask(std::string_view s) {
  for (MaskKind m : {MaskKind::none, MaskKind::causal, MaskKind::tensor, MaskKind::lengths})
    if (to_string(m) == s) return m;
  return std::nullopt;
}

const char* mask_choices() { return "none, causal, tensor, lengths"; }

std::string_view to_string(SeqLengths l) { return l == SeqLengths::mixed ? "mixed" : "equal"; }

std::optional<SeqLengths> parse_seq_lengths(std::string_view s) {
  for (SeqLengths l : {SeqLengths::equal, SeqLengths::mixed})
    if (to_string(l) == s) return l;
  return std::nullopt;
}

const char* seq_lengths_choices() { return "equal, mixed"; }

std::string_view to_string(SparsePattern s) {
  switch (s) {
    case SparsePattern::random: return "random";
    case SparsePattern::window: return "window";
    case SparsePattern::causal: return "causal";
    case SparsePattern::causal_window: return "causal_window";
    case SparsePattern::documents: return "documents";
    case SparsePattern::global_window: return "global_window";
    case SparsePattern::file: return "file";
  }
  return "?";
}

std::optional<SparsePattern> parse_sparse_pattern(std::string_view s) {
  for (SparsePattern x : {SparsePattern::random, SparsePattern::window, SparsePattern::causal,
                          SparsePattern::causal_window, SparsePattern::documents, SparsePattern::global_window,
                          SparsePattern::file})
    if (to_string(x) == s) return x;
  return std::nullopt;
}

const char* sparse_pattern_choices() {
  return "random, window, causal, causal_window, documents, global_window, file";
}

std::string params_label(const Params& p) {
  std::string s;
  for (const auto& [name, value] : p) s += fmt::format("{}{}={}", s.empty() ? "" : ",", name, value);
  return s;
}

}  // namespace fabench

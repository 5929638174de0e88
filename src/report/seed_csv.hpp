#pragma once
// Result files in the CSV formats a seed prescribes (`fa-bench report --seed-format`), so a student
// hands in fa-bench's validated, timed rows in the assignment's own columns. Seed 004 prescribes:
//   004-softmax-matmul  outputs/softmax_matmul_benchmark.csv (part 1.B): batch_size, d1, d2, d3,
//                       triton, BLOCK, forward_ms_mean, forward_ms_std, forward_peak_MiB
//   004-attention       outputs/csv/attention_benchmark.csv (part 3.B): implementation, d_model,
//                       seq_len, forward_ms, forward_peak_MiB, backward_ms, backward_peak_MiB,
//                       saved_activations_MiB, status, gpu
// Nullable fields are empty, as pandas writes <NA> and None.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ops/op.hpp"

namespace fabench {

enum class SeedFormat { softmax_matmul_004, attention_004 };
std::optional<SeedFormat> parse_seed_format(std::string_view s);
const char* seed_format_choices();  // "004-softmax-matmul, 004-attention"

// The seed's columns, in its order.
const std::vector<std::string>& seed_columns(SeedFormat f);

// The seed's implementation name of each fa-bench variant where it is not the variant's own.
// 004-softmax-matmul knows two (a bool column tells them apart): fused_softmax, the student's
// kernel (triton True; by default every `triton.*` variant), and softmax_mult, PyTorch's
// (torch.softmax_matmul); other variants are left out unless `names` maps them. 004-attention:
// flash_triton (fa-bench's stand-in: fwd_bwd.fa2, README "Attention backward"), pytorch_sdpa
// (torch.sdpa_efficient, where SDPA sends fp32); other variants keep their own name.
using SeedNames = std::map<std::string, std::string>;  // fa-bench variant -> seed implementation

struct SeedTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> notes;  // what was left out and why, for the user
};

// The rows of `rows` that the format holds (its op's), in its columns. `names` adds to and
// overrides the defaults above. Throws std::invalid_argument when nothing is left, a name is not
// the seed's, or two rows would become indistinguishable (the seed has no column for what tells
// them apart: dtype, batch, causal, ...; `fa-bench report --where` keeps one).
SeedTable to_seed_table(SeedFormat f, const std::vector<TextRow>& rows, const SeedNames& names = {});

// The table as CSV text: the header line, then one line per row.
std::string seed_csv_text(const SeedTable& t);

}  // namespace fabench

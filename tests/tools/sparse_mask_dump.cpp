// sparse_mask_dump CONFIG OUT_DIR: the masks fa-bench builds for the sparse_attention problems of a
// sweep file, written for tests/sparse_mask_port_test.py to compare with scripts/peers.py's Python
// port (the FlexAttention peer's block masks). For each distinct problem, in plan order, number n:
//   OUT_DIR/n.elements.npy  uint8 [masks, seq_q, seq_k]: SparseMask::keep, through row()'s ranges
//   OUT_DIR/n.blocks.npy    uint8 [masks, q_blocks, k_blocks]: classify(): 0 empty, 1 full, 2 partial
// and a line of OUT_DIR/index.tsv: n, problem key, masks, per_head (0/1), kept_total. A problem above
// 2^24 mask elements is listed with "-" files: this is a tool for small shapes. Exit 2 for a config
// error, as fa-bench.
#include <cstdio>
#include <fmt/format.h>
#include <fstream>
#include <set>

#include "app/sweep.hpp"
#include "config/plan.hpp"
#include "core/sparse_mask.hpp"
#include "core/variant.hpp"
#include "ops/sparse_attention.hpp"

using namespace fabench;

namespace {

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
  if (!out.flush()) throw std::runtime_error("cannot write " + path);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: sparse_mask_dump CONFIG OUT_DIR\n");
    return 2;
  }
  const std::string config = argv[1], dir = argv[2];
  Registry registry;
  register_all_variants(registry);
  try {
    const LoadedCases loaded = load_cases(config, "", registry);
    std::ofstream index(dir + "/index.tsv");
    std::set<std::string> seen;
    int n = 0;
    for (const ExpandedCase& ec : loaded.cases) {
      const Problem& p = ec.c.problem;
      if (p.op != OpKind::sparse_attention || !seen.insert(p.key()).second) continue;
      const auto mask = sparse_mask_of(p);
      const std::int64_t masks = mask->count(), sq = mask->seq_q(), sk = mask->seq_k();
      std::string elements_name = "-", blocks_name = "-";
      if (masks * sq * sk <= (std::int64_t{1} << 24)) {
        std::vector<std::uint8_t> elements(static_cast<std::size_t>(masks * sq * sk), 0);
        std::vector<std::uint8_t> blocks;
        std::vector<KeyRange> ranges;
        for (std::int64_t m = 0; m < masks; ++m) {
          for (std::int64_t i = 0; i < sq; ++i) {
            mask->row(m, i, ranges);
            for (const KeyRange& r : ranges)
              for (std::int64_t j = r.begin; j < r.end; ++j) elements[static_cast<std::size_t>((m * sq + i) * sk + j)] = 1;
          }
          for (BlockKind k : mask->classify(m)) blocks.push_back(static_cast<std::uint8_t>(k));
        }
        elements_name = fmt::format("{}.elements.npy", n);
        blocks_name = fmt::format("{}.blocks.npy", n);
        write_file(dir + "/" + elements_name, npy_bytes({masks, sq, sk}, elements));
        write_file(dir + "/" + blocks_name, npy_bytes({masks, mask->q_blocks(), mask->k_blocks()}, blocks));
      }
      index << fmt::format("{}\t{}\t{}\t{}\t{}\t{}\t{}\n", n, p.key(), masks, mask->per_head() ? 1 : 0,
                           mask->kept_total(), elements_name, blocks_name);
      ++n;
    }
    if (!index.flush()) throw std::runtime_error("cannot write " + dir + "/index.tsv");
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "sparse_mask_dump: config error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sparse_mask_dump: %s\n", e.what());
    return 1;
  }
  return 0;
}

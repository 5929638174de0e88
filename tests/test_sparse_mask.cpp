// core/sparse_mask.hpp: each pattern's generator against its definition (windows, causal and
// documents exact, random blocks at the requested density), block classification and the CSR block
// lists against the element mask, kept counts, and the .npy mask reader with every malformed file.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>

#include "core/sparse_mask.hpp"
#include "reference/attention_reference.hpp"

using namespace fabench;

namespace {

Problem sparse(SparsePattern pattern, std::int64_t sq, std::int64_t sk, std::int64_t block = 64, std::uint64_t seed = 5) {
  Problem p;
  p.op = OpKind::sparse_attention;
  p.pattern = pattern;
  p.batch = 2;
  p.heads = 3;
  p.kv_heads = 3;
  p.seq_q = sq;
  p.seq_k = sk;
  p.head_dim = 16;
  p.block = block;
  p.seed = seed;
  return p;
}

// The element mask, brute force through keep().
std::vector<std::uint8_t> elements(const SparseMask& m, std::int64_t index) {
  std::vector<std::uint8_t> e(static_cast<std::size_t>(m.seq_q() * m.seq_k()));
  for (std::int64_t i = 0; i < m.seq_q(); ++i)
    for (std::int64_t j = 0; j < m.seq_k(); ++j) e[static_cast<std::size_t>(i * m.seq_k() + j)] = m.keep(index, i, j);
  return e;
}

// Checks row() against keep(): sorted, disjoint, non-adjacent, non-empty ranges holding exactly the kept keys.
void check_rows(const SparseMask& m, std::int64_t index) {
  std::vector<KeyRange> ranges;
  for (std::int64_t i = 0; i < m.seq_q(); ++i) {
    m.row(index, i, ranges);
    std::vector<std::uint8_t> from_ranges(static_cast<std::size_t>(m.seq_k()), 0);
    for (std::size_t r = 0; r < ranges.size(); ++r) {
      REQUIRE(ranges[r].begin < ranges[r].end);
      REQUIRE(ranges[r].begin >= 0);
      REQUIRE(ranges[r].end <= m.seq_k());
      if (r) REQUIRE(ranges[r - 1].end < ranges[r].begin);
      for (std::int64_t j = ranges[r].begin; j < ranges[r].end; ++j) from_ranges[static_cast<std::size_t>(j)] = 1;
    }
    for (std::int64_t j = 0; j < m.seq_k(); ++j) REQUIRE(from_ranges[static_cast<std::size_t>(j)] == m.keep(index, i, j));
  }
}

std::int64_t count(const std::vector<std::uint8_t>& v) { return std::accumulate(v.begin(), v.end(), std::int64_t{0}); }

std::string temp_file(const std::string& name, const std::string& bytes) {
  const auto dir = std::filesystem::temp_directory_path() / "fabench-sparse-mask";
  std::filesystem::create_directories(dir);
  const std::string path = (dir / name).string();
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

std::string read_error(const std::string& path) {
  try {
    read_npy_mask(path);
  } catch (const MaskFileError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("sparse masks: element patterns are exact, bottom-right aligned", "[sparse][mask]") {
  for (auto [sq, sk] : {std::pair<std::int64_t, std::int64_t>{150, 150}, {70, 150}, {150, 70}}) {
    INFO("seq_q " << sq << " seq_k " << sk);
    const std::int64_t shift = sk - sq;
    {
      Problem p = sparse(SparsePattern::causal, sq, sk);
      const SparseMask m(p);
      check_rows(m, 0);
      Problem dense = p;
      dense.causal = true;
      for (std::int64_t i = 0; i < sq; ++i)
        for (std::int64_t j = 0; j < sk; ++j) REQUIRE(m.keep(0, i, j) == (j < attention_visible_keys(dense, i)));
    }
    for (std::int64_t w : {1, 2, 7, 64, 400}) {
      INFO("window " << w);
      Problem p = sparse(SparsePattern::window, sq, sk);
      p.window = w;
      const SparseMask window(p);
      p.pattern = SparsePattern::causal_window;
      const SparseMask causal_window(p);
      p.pattern = SparsePattern::global_window;
      p.global_tokens = 5;
      const SparseMask global(p);
      for (const SparseMask* m : {&window, &causal_window, &global}) check_rows(*m, 0);
      for (std::int64_t i = 0; i < sq; ++i)
        for (std::int64_t j = 0; j < sk; ++j) {
          const std::int64_t t = i + shift;
          const bool in_window = j >= t - w / 2 && j < t - w / 2 + w;
          REQUIRE(window.keep(0, i, j) == in_window);
          REQUIRE(causal_window.keep(0, i, j) == (j <= t && j > t - w));
          REQUIRE(global.keep(0, i, j) == ((t >= 0 && t < 5) || j < 5 || in_window));
        }
      // W tokens a row away from the edges.
      std::vector<KeyRange> ranges;
      window.row(0, sq - 1 - std::min<std::int64_t>(sq, sk) / 2, ranges);
      if (w < std::min(sq, sk) / 2) {
        REQUIRE(ranges.size() == 1);
        CHECK(ranges[0].end - ranges[0].begin == w);
      }
    }
  }
}

TEST_CASE("sparse masks: documents attend within themselves, given or seeded lengths", "[sparse][mask]") {
  Problem p = sparse(SparsePattern::documents, 100, 100);
  p.doc_lengths = {30, 1, 50, 19};
  const SparseMask given(p);
  check_rows(given, 0);
  auto doc_of = [](const std::vector<std::int64_t>& lengths, std::int64_t t) {
    std::int64_t start = 0;
    for (std::size_t d = 0; d < lengths.size(); ++d) {
      if (t < start + lengths[d]) return static_cast<std::int64_t>(d);
      start += lengths[d];
    }
    return std::int64_t{-1};
  };
  for (std::int64_t i = 0; i < 100; ++i)
    for (std::int64_t j = 0; j < 100; ++j) REQUIRE(given.keep(0, i, j) == (doc_of(p.doc_lengths, i) == doc_of(p.doc_lengths, j)));
  CHECK(given.kept(0) == 30 * 30 + 1 + 50 * 50 + 19 * 19);

  // Seeded random lengths: the count asked for, each at least 1, summing to seq_k; per head they differ.
  p.doc_lengths.clear();
  p.doc_count = 7;
  p.mask_per_head = true;
  const SparseMask seeded(p);
  REQUIRE(seeded.count() == 6);
  std::set<std::vector<std::int64_t>> distinct;
  for (std::int64_t m = 0; m < seeded.count(); ++m) {
    const auto lengths = random_document_lengths(7, 100, p.seed, m);
    REQUIRE(lengths.size() == 7);
    CHECK(std::accumulate(lengths.begin(), lengths.end(), std::int64_t{0}) == 100);
    for (auto n : lengths) CHECK(n >= 1);
    distinct.insert(lengths);
    for (std::int64_t i = 0; i < 100; ++i)
      for (std::int64_t j = 0; j < 100; ++j) REQUIRE(seeded.keep(m, i, j) == (doc_of(lengths, i) == doc_of(lengths, j)));
    check_rows(seeded, m);
  }
  CHECK(distinct.size() == 6);
  // Pinned: the stream is SplitMix's, the same on every platform.
  CHECK(random_document_lengths(4, 64, 20261121, 0) == random_document_lengths(4, 64, 20261121, 0));
  CHECK(random_document_lengths(1, 64, 1, 0) == std::vector<std::int64_t>{64});
  CHECK(random_document_lengths(64, 64, 1, 0) == std::vector<std::int64_t>(64, 1));
}

TEST_CASE("sparse masks: random blocks keep the requested density, seeded, shared or per head", "[sparse][mask]") {
  for (double density : {0.05, 0.1, 0.25, 0.5, 0.9, 1.0}) {
    for (std::int64_t block : {64, 128}) {
      Problem p = sparse(SparsePattern::random, 2048, 4096, block);
      p.density = density;
      const SparseMask m(p);
      const std::int64_t blocks = m.q_blocks() * m.k_blocks();
      // Exactly round(density * blocks) blocks: the density within half a block of the request.
      CHECK(std::abs(m.density() - density) <= 0.5 / static_cast<double>(blocks) + 1e-12);
      const auto kinds = m.classify(0);
      CHECK(std::count(kinds.begin(), kinds.end(), BlockKind::partial) == 0);
      CHECK(std::count(kinds.begin(), kinds.end(), BlockKind::full) == std::llround(density * blocks));
    }
  }
  Problem p = sparse(SparsePattern::random, 300, 200, 64);  // edge blocks cut at the sequences' ends
  p.density = 0.4;
  const SparseMask shared(p);
  CHECK(shared.count() == 1);
  check_rows(shared, 0);
  CHECK(shared.kept(0) == count(elements(shared, 0)));
  CHECK(shared.kept_total() == 6 * shared.kept(0));
  CHECK(shared.density() == Approx(static_cast<double>(shared.kept(0)) / (300.0 * 200.0)));
  const SparseMask again(p);
  CHECK(elements(again, 0) == elements(shared, 0));
  p.seed = 6;
  CHECK(elements(SparseMask(p), 0) != elements(shared, 0));
  p.mask_per_head = true;
  const SparseMask per_head(p);
  REQUIRE(per_head.count() == 6);
  CHECK(per_head.index(1, 2) == 5);
  std::set<std::vector<std::uint8_t>> distinct;
  std::int64_t total = 0;
  for (std::int64_t m = 0; m < 6; ++m) {
    distinct.insert(elements(per_head, m));
    total += per_head.kept(m);
  }
  CHECK(distinct.size() == 6);
  CHECK(per_head.kept_total() == total);
}

TEST_CASE("sparse masks: block classification and the CSR block lists match the element mask", "[sparse][mask]") {
  std::vector<Problem> problems;
  for (std::int64_t block : {64, 128})
    for (auto [sq, sk] : {std::pair<std::int64_t, std::int64_t>{200, 170}, {256, 256}, {90, 300}}) {
      Problem p = sparse(SparsePattern::random, sq, sk, block);
      p.density = 0.3;
      p.mask_per_head = true;
      problems.push_back(p);
      p.mask_per_head = false;
      p.pattern = SparsePattern::causal;
      problems.push_back(p);
      p.pattern = SparsePattern::window;
      p.window = 50;
      problems.push_back(p);
      p.pattern = SparsePattern::causal_window;
      problems.push_back(p);
      p.pattern = SparsePattern::global_window;
      p.global_tokens = 3;
      problems.push_back(p);
      p.pattern = SparsePattern::documents;
      p.doc_count = 4;
      p.mask_per_head = true;
      problems.push_back(p);
    }
  for (const Problem& p : problems) {
    INFO(to_string(p.pattern) << " block " << p.block << " seq " << p.seq_q << "x" << p.seq_k);
    const SparseMask mask(p);
    const BlockLayout layout = block_layout(mask);
    const std::int64_t B = p.block, nq = mask.q_blocks(), nk = mask.k_blocks();
    REQUIRE(layout.offsets.size() == static_cast<std::size_t>(mask.count() * nq + 1));
    REQUIRE(layout.cols.size() == layout.tiles.size());
    REQUIRE(static_cast<std::int64_t>(layout.partial.size()) == layout.partial_blocks() * B * B);
    std::int64_t total_kept = 0;
    for (std::int64_t m = 0; m < mask.count(); ++m) {
      const auto e = elements(mask, m);
      CHECK(mask.kept(m) == count(e));
      total_kept += mask.kept(m);
      const auto kinds = mask.classify(m);
      std::vector<std::uint8_t> rebuilt(e.size(), 0);
      for (std::int64_t qb = 0; qb < nq; ++qb) {
        // Classification by brute force over the block's existing elements.
        for (std::int64_t kb = 0; kb < nk; ++kb) {
          std::int64_t kept = 0, area = 0;
          for (std::int64_t i = qb * B; i < std::min((qb + 1) * B, p.seq_q); ++i)
            for (std::int64_t j = kb * B; j < std::min((kb + 1) * B, p.seq_k); ++j) {
              kept += e[static_cast<std::size_t>(i * p.seq_k + j)];
              ++area;
            }
          const BlockKind expect = kept == 0 ? BlockKind::empty : kept == area ? BlockKind::full : BlockKind::partial;
          REQUIRE(kinds[static_cast<std::size_t>(qb * nk + kb)] == expect);
        }
        // The CSR row lists exactly the non-empty blocks, ascending, full ones without a tile.
        const std::int32_t begin = layout.offsets[static_cast<std::size_t>(m * nq + qb)];
        const std::int32_t end = layout.offsets[static_cast<std::size_t>(m * nq + qb + 1)];
        std::vector<std::int64_t> listed;
        for (std::int32_t x = begin; x < end; ++x) {
          const std::int64_t kb = layout.cols[static_cast<std::size_t>(x)];
          if (!listed.empty()) REQUIRE(kb > listed.back());
          listed.push_back(kb);
          const BlockKind kind = kinds[static_cast<std::size_t>(qb * nk + kb)];
          const std::int32_t tile = layout.tiles[static_cast<std::size_t>(x)];
          REQUIRE(kind != BlockKind::empty);
          REQUIRE((tile == -1) == (kind == BlockKind::full));
          for (std::int64_t r = 0; r < B; ++r)
            for (std::int64_t c = 0; c < B; ++c) {
              const std::int64_t i = qb * B + r, j = kb * B + c;
              const bool inside = i < p.seq_q && j < p.seq_k;
              const std::uint8_t bit =
                  tile < 0 ? inside : layout.partial[static_cast<std::size_t>(tile * B * B + r * B + c)];
              if (!inside) REQUIRE(bit == 0);  // tiles are zero past the sequences' ends
              if (inside) rebuilt[static_cast<std::size_t>(i * p.seq_k + j)] = bit;
            }
        }
        std::int64_t non_empty = 0;
        for (std::int64_t kb = 0; kb < nk; ++kb) non_empty += kinds[static_cast<std::size_t>(qb * nk + kb)] != BlockKind::empty;
        REQUIRE(static_cast<std::int64_t>(listed.size()) == non_empty);
      }
      REQUIRE(rebuilt == e);  // the layout holds the whole element mask
    }
    if (mask.per_head()) CHECK(mask.kept_total() == total_kept);
    else CHECK(mask.kept_total() == total_kept * p.batch * p.heads);
  }
}

TEST_CASE("sparse masks: rows with nothing to attend give zeros and a log-sum-exp of -inf", "[sparse][mask][reference]") {
  Problem p = sparse(SparsePattern::random, 256, 256, 64);
  p.density = 0.1;  // 2 of 16 blocks: some block rows keep nothing
  const SparseMask mask(p);
  std::vector<float> q(static_cast<std::size_t>(2 * 3 * 256 * 16), 0.5f), k = q, v(q.size(), 1.0f);
  std::vector<KeyRange> ranges;
  int empty_rows = 0;
  for (std::int64_t i = 0; i < 256; ++i) {
    mask.row(0, i, ranges);
    std::vector<double> o(16, 7.0);
    double lse = 0;
    attention_reference_row(p, q.data(), k.data(), v.data(), 1, 2, i, ranges.data(), ranges.size(), o.data(), &lse);
    if (ranges.empty()) {
      ++empty_rows;
      CHECK(std::isinf(lse));
      CHECK(lse < 0);
      for (double x : o) CHECK(x == 0.0);
    } else {
      CHECK(std::isfinite(lse));
      for (double x : o) CHECK(x == Approx(1.0));
    }
  }
  CHECK(empty_rows >= 64);
  // Under causal, queries before the keys (seq_q > seq_k) see nothing.
  const SparseMask causal(sparse(SparsePattern::causal, 100, 40));
  causal.row(0, 10, ranges);
  CHECK(ranges.empty());
  causal.row(0, 60, ranges);
  REQUIRE(ranges.size() == 1);
  CHECK(ranges[0].end == 1);
}

TEST_CASE("mask files: .npy of uint8 or bool, element or block granularity, shared or per head", "[sparse][mask][npy]") {
  Problem p = sparse(SparsePattern::causal, 130, 70, 64);
  const SparseMask causal(p);
  const auto element = elements(causal, 0);

  p.pattern = SparsePattern::file;
  p.mask_file = temp_file("element.npy", npy_bytes({130, 70}, element));
  const SparseMask from_elements(p);
  CHECK_FALSE(from_elements.per_head());
  CHECK(elements(from_elements, 0) == element);
  CHECK(from_elements.kept(0) == causal.kept(0));
  check_rows(from_elements, 0);

  p.mask_file = temp_file("bool.npy", npy_bytes({130, 70}, element, "|b1"));
  CHECK(elements(SparseMask(p), 0) == element);

  // Blocks [3, 2], per (batch, head): leading [2, 3].
  std::vector<std::uint8_t> blocks(2 * 3 * 3 * 2);
  for (std::size_t x = 0; x < blocks.size(); ++x) blocks[x] = (x * 7 + x / 6) % 3 == 0;
  p.mask_file = temp_file("blocks.npy", npy_bytes({2, 3, 3, 2}, blocks));
  const SparseMask from_blocks(p);
  REQUIRE(from_blocks.per_head());
  REQUIRE(from_blocks.count() == 6);
  for (std::int64_t m = 0; m < 6; ++m)
    for (std::int64_t i = 0; i < 130; ++i)
      for (std::int64_t j = 0; j < 70; ++j)
        REQUIRE(from_blocks.keep(m, i, j) == (blocks[static_cast<std::size_t>(m * 6 + (i / 64) * 2 + j / 64)] != 0));

  // Read back as written.
  const NpyMask read = read_npy_mask(p.mask_file);
  CHECK(read.shape == std::vector<std::int64_t>{2, 3, 3, 2});
  CHECK(read.values == blocks);
}

TEST_CASE("mask files: every malformed file is an error naming the file and its problem", "[sparse][mask][npy]") {
  const std::string good = npy_bytes({4, 4}, std::vector<std::uint8_t>(16, 1));
  const std::string header_end = good.substr(0, good.size() - 16);
  const std::string missing = (std::filesystem::temp_directory_path() / "fabench-sparse-mask/none.npy").string();
  CHECK(read_error(missing) == "mask file \"" + missing + "\": cannot be read (missing or not readable)");
  std::string path = temp_file("text.npy", "0,1\n1,0\n");
  CHECK(read_error(path) == "mask file \"" + path + "\": not a .npy file (it does not start with \\x93NUMPY)");
  path = temp_file("short-header.npy", good.substr(0, 40));
  CHECK(read_error(path).find("\": truncated header") != std::string::npos);
  path = temp_file("short-data.npy", good.substr(0, good.size() - 3));
  CHECK(read_error(path) == "mask file \"" + path + "\": truncated data: 13 bytes of the 16 that shape (4, 4) holds");
  path = temp_file("long-data.npy", good + "xx");
  CHECK(read_error(path) == "mask file \"" + path + "\": 2 bytes after the 16 that shape (4, 4) holds");
  path = temp_file("float.npy", npy_bytes({2, 2}, std::vector<std::uint8_t>(16, 0), "<f4"));
  CHECK(read_error(path) == "mask file \"" + path + "\": wrong dtype '<f4' (expected uint8 '|u1' or bool '|b1')");
  std::string fortran = good;
  fortran.replace(fortran.find("False"), 5, "True ");
  path = temp_file("fortran.npy", fortran);
  CHECK(read_error(path) == "mask file \"" + path + "\": Fortran order (write it in C order: numpy.ascontiguousarray)");
  std::vector<std::uint8_t> two(16, 1);
  two[6] = 2;
  path = temp_file("two.npy", npy_bytes({4, 4}, two));
  CHECK(read_error(path) == "mask file \"" + path + "\": value 2 at [1, 2] is not 0 or 1");
  std::string version = good;
  version[6] = 9;
  path = temp_file("version.npy", version);
  CHECK(read_error(path) == "mask file \"" + path + "\": .npy format version 9 is not 1, 2 or 3");

  // Wrong size for the problem's shape: neither elements nor blocks, or leading dims not [batch, heads].
  Problem p = sparse(SparsePattern::file, 100, 100, 64);
  for (const std::vector<std::int64_t>& shape :
       std::vector<std::vector<std::int64_t>>{{100, 99}, {3, 2}, {100}, {2, 2, 2, 2}, {1, 3, 2, 2}}) {
    std::int64_t n = 1;
    for (auto x : shape) n *= x;
    p.mask_file = temp_file("misfit.npy", npy_bytes(shape, std::vector<std::uint8_t>(static_cast<std::size_t>(n), 1)));
    try {
      SparseMask m(p);
      FAIL("no error for a misfit shape");
    } catch (const MaskFileError& e) {
      CHECK(std::string(e.what()).rfind("mask file \"" + p.mask_file + "\": wrong size for the shape: (", 0) == 0);
      CHECK(std::string(e.what()).find("is neither [seq_q, seq_k] = [100, 100] (elements) nor [2, 2] (blocks of 64), "
                                       "optionally after [batch, heads] = [2, 3]") != std::string::npos);
    }
  }
}

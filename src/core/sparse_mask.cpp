#include "core/sparse_mask.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fstream>
#include <iterator>
#include <numeric>

#include "core/seeded_random.hpp"

namespace fabench {

// ---- .npy -------------------------------------------------------------------------------------

namespace {

[[noreturn]] void npy_fail(const std::string& path, const std::string& what) {
  throw MaskFileError(fmt::format("mask file \"{}\": {}", path, what));
}

// The text after `'key':` in a .npy header dict, up to the next top-level ',' or '}'.
bool header_value(const std::string& header, const std::string& key, std::string& out) {
  const auto at = header.find("'" + key + "'");
  if (at == std::string::npos) return false;
  auto colon = header.find(':', at);
  if (colon == std::string::npos) return false;
  std::size_t i = colon + 1;
  while (i < header.size() && header[i] == ' ') ++i;
  std::size_t end = i;
  if (end < header.size() && header[end] == '(') {
    end = header.find(')', end);
    if (end == std::string::npos) return false;
    ++end;
  } else if (end < header.size() && (header[end] == '\'' || header[end] == '"')) {
    end = header.find(header[i], end + 1);
    if (end == std::string::npos) return false;
    ++end;
  } else {
    while (end < header.size() && header[end] != ',' && header[end] != '}') ++end;
  }
  out = header.substr(i, end - i);
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return true;
}

std::vector<std::int64_t> parse_shape(const std::string& path, const std::string& text) {
  if (text.size() < 2 || text.front() != '(' || text.back() != ')') npy_fail(path, "header 'shape' is not a tuple: " + text);
  std::vector<std::int64_t> shape;
  std::string item;
  auto flush = [&] {
    const auto first = item.find_first_not_of(' '), last = item.find_last_not_of(' ');
    if (first == std::string::npos) {
      item.clear();
      return;
    }
    const std::string digits = item.substr(first, last - first + 1);
    if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 15)
      npy_fail(path, "header 'shape' holds a non-integer: " + text);
    shape.push_back(std::stoll(digits));
    item.clear();
  };
  for (std::size_t i = 1; i + 1 < text.size(); ++i) {
    if (text[i] == ',')
      flush();
    else
      item += text[i];
  }
  flush();
  return shape;
}

}  // namespace

NpyMask read_npy_mask(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) npy_fail(path, "cannot be read (missing or not readable)");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  static const char magic[] = "\x93NUMPY";
  if (bytes.size() < 6 || bytes.compare(0, 6, magic, 6) != 0)
    npy_fail(path, "not a .npy file (it does not start with \\x93NUMPY)");
  if (bytes.size() < 10) npy_fail(path, fmt::format("truncated header ({} bytes)", bytes.size()));
  const auto major = static_cast<unsigned char>(bytes[6]);
  std::size_t header_len = 0, header_start = 0;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<std::size_t>(static_cast<unsigned char>(bytes[9])) << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) npy_fail(path, fmt::format("truncated header ({} bytes)", bytes.size()));
    for (int k = 0; k < 4; ++k)
      header_len |= static_cast<std::size_t>(static_cast<unsigned char>(bytes[8 + k])) << (8 * k);
    header_start = 12;
  } else {
    npy_fail(path, fmt::format(".npy format version {} is not 1, 2 or 3", major));
  }
  if (bytes.size() < header_start + header_len)
    npy_fail(path, fmt::format("truncated header: {} bytes of {}", bytes.size() - header_start, header_len));
  const std::string header = bytes.substr(header_start, header_len);
  std::string descr, fortran, shape_text;
  if (!header_value(header, "descr", descr)) npy_fail(path, "header has no 'descr'");
  if (!header_value(header, "fortran_order", fortran)) npy_fail(path, "header has no 'fortran_order'");
  if (!header_value(header, "shape", shape_text)) npy_fail(path, "header has no 'shape'");
  if (descr.size() >= 2) descr = descr.substr(1, descr.size() - 2);
  if (descr != "|u1" && descr != "u1" && descr != "<u1" && descr != ">u1" && descr != "|b1" && descr != "b1" &&
      descr != "?")
    npy_fail(path, fmt::format("wrong dtype '{}' (expected uint8 '|u1' or bool '|b1')", descr));
  if (fortran == "True") npy_fail(path, "Fortran order (write it in C order: numpy.ascontiguousarray)");
  if (fortran != "False") npy_fail(path, "header 'fortran_order' is neither True nor False: " + fortran);
  NpyMask mask;
  mask.shape = parse_shape(path, shape_text);
  std::int64_t count = 1;
  for (std::int64_t n : mask.shape) {
    if (n > 0 && count > (std::int64_t{1} << 40) / n) npy_fail(path, "shape " + shape_text + " is too large");
    count *= n;
  }
  const std::size_t have = bytes.size() - header_start - header_len;
  if (have < static_cast<std::size_t>(count))
    npy_fail(path, fmt::format("truncated data: {} bytes of the {} that shape {} holds", have, count, shape_text));
  if (have > static_cast<std::size_t>(count))
    npy_fail(path, fmt::format("{} bytes after the {} that shape {} holds", have - static_cast<std::size_t>(count),
                               count, shape_text));
  mask.values.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header_start + header_len), bytes.end());
  for (std::size_t i = 0; i < mask.values.size(); ++i)
    if (mask.values[i] > 1) {
      std::vector<std::int64_t> at(mask.shape.size());
      std::size_t rest = i;
      for (std::size_t d = mask.shape.size(); d-- > 0;) {
        at[d] = static_cast<std::int64_t>(rest % static_cast<std::size_t>(mask.shape[d]));
        rest /= static_cast<std::size_t>(mask.shape[d]);
      }
      npy_fail(path, fmt::format("value {} at [{}] is not 0 or 1", mask.values[i], fmt::join(at, ", ")));
    }
  return mask;
}

std::string npy_bytes(const std::vector<std::int64_t>& shape, const std::vector<std::uint8_t>& values,
                      const std::string& descr) {
  std::string shape_text = "(";
  for (std::size_t d = 0; d < shape.size(); ++d) shape_text += fmt::format("{}{}", d ? ", " : "", shape[d]);
  if (shape.size() == 1) shape_text += ",";
  shape_text += ")";
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", descr, shape_text);
  const std::size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  out.append(values.begin(), values.end());
  return out;
}

// ---- generation -------------------------------------------------------------------------------

namespace {

// Each mask's own stream: from the problem's seed, the pattern and the mask index.
SplitMix mask_rng(std::uint64_t seed, std::uint64_t salt, std::int64_t m) {
  SplitMix rng{seed * 0x100000001B3ull ^ salt};
  rng.state += static_cast<std::uint64_t>(m) * 0x9E3779B97F4A7C15ull;
  rng.next();
  return rng;
}

constexpr std::uint64_t kRandomBlocksSalt = 0x5350415253452D42ull;  // "SPARSE-B"
constexpr std::uint64_t kDocumentsSalt = 0x5350415253452D44ull;     // "SPARSE-D"

// Appends [b, e) clipped to [0, n), merging with the last range when they touch.
void add_range(std::vector<KeyRange>& out, std::int64_t b, std::int64_t e, std::int64_t n) {
  b = std::max<std::int64_t>(b, 0);
  e = std::min(e, n);
  if (b >= e) return;
  if (!out.empty() && b <= out.back().end) {
    out.back().end = std::max(out.back().end, e);
    return;
  }
  out.push_back({b, e});
}

}  // namespace

std::vector<std::int64_t> random_document_lengths(std::int64_t count, std::int64_t total, std::uint64_t seed,
                                                  std::int64_t m) {
  if (count < 1 || count > total) throw std::invalid_argument("documents: count must be in [1, seq_k]");
  // count - 1 distinct cuts among 1 .. total - 1, by a partial Fisher-Yates shuffle.
  std::vector<std::int64_t> candidates(static_cast<std::size_t>(total - 1));
  std::iota(candidates.begin(), candidates.end(), 1);
  SplitMix rng = mask_rng(seed, kDocumentsSalt, m);
  for (std::int64_t t = 0; t < count - 1; ++t) {
    const auto pick = t + static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(total - 1 - t)));
    std::swap(candidates[static_cast<std::size_t>(t)], candidates[static_cast<std::size_t>(pick)]);
  }
  std::vector<std::int64_t> cuts(candidates.begin(), candidates.begin() + (count - 1));
  std::sort(cuts.begin(), cuts.end());
  std::vector<std::int64_t> lengths;
  std::int64_t last = 0;
  for (std::int64_t c : cuts) {
    lengths.push_back(c - last);
    last = c;
  }
  lengths.push_back(total - last);
  return lengths;
}

SparseMask::SparseMask(const Problem& p)
    : pattern_(p.pattern),
      batch_(p.batch),
      heads_(p.heads),
      seq_q_(p.seq_q),
      seq_k_(p.seq_k),
      block_(p.block),
      window_(p.window),
      global_(p.global_tokens),
      per_head_(p.mask_per_head) {
  if (block_ < 1 || seq_q_ < 1 || seq_k_ < 1) throw std::invalid_argument("sparse mask: empty shape or block");
  switch (pattern_) {
    case SparsePattern::window:
    case SparsePattern::causal_window:
    case SparsePattern::global_window:
      if (window_ < 1) throw std::invalid_argument("sparse mask: window must be at least 1");
      [[fallthrough]];
    case SparsePattern::causal:
      source_ = Source::ranges;
      per_head_ = false;
      break;
    case SparsePattern::documents: {
      source_ = Source::documents;
      for (std::int64_t m = 0; m < count(); ++m) {
        const std::vector<std::int64_t> lengths =
            p.doc_count > 0 ? random_document_lengths(p.doc_count, seq_k_, p.seed, m) : p.doc_lengths;
        if (std::accumulate(lengths.begin(), lengths.end(), std::int64_t{0}) != seq_k_)
          throw std::invalid_argument("sparse mask: document lengths must sum to seq_k");
        std::vector<std::int64_t> starts = {0};
        for (std::int64_t n : lengths) starts.push_back(starts.back() + n);
        doc_starts_.push_back(std::move(starts));
      }
      break;
    }
    case SparsePattern::random: {
      if (!(p.density > 0 && p.density <= 1)) throw std::invalid_argument("sparse mask: density must be in (0, 1]");
      source_ = Source::blocks;
      const std::int64_t n = q_blocks() * k_blocks();
      const std::int64_t want =
          std::clamp<std::int64_t>(std::llround(p.density * static_cast<double>(n)), 1, n);
      std::vector<std::int64_t> order(static_cast<std::size_t>(n));
      for (std::int64_t m = 0; m < count(); ++m) {
        std::iota(order.begin(), order.end(), 0);
        SplitMix rng = mask_rng(p.seed, kRandomBlocksSalt, m);
        std::vector<std::uint8_t> bits(static_cast<std::size_t>(n), 0);
        for (std::int64_t t = 0; t < want; ++t) {
          const auto pick = t + static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(n - t)));
          std::swap(order[static_cast<std::size_t>(t)], order[static_cast<std::size_t>(pick)]);
          bits[static_cast<std::size_t>(order[static_cast<std::size_t>(t)])] = 1;
        }
        bits_.push_back(std::move(bits));
      }
      break;
    }
    case SparsePattern::file: {
      NpyMask file = read_npy_mask(p.mask_file);
      const auto& s = file.shape;
      const std::string shape_text = fmt::format("({})", fmt::join(s, ", "));
      auto misfit = [&] {
        return MaskFileError(fmt::format(
            "mask file \"{}\": wrong size for the shape: {} is neither [seq_q, seq_k] = [{}, {}] (elements) nor "
            "[{}, {}] (blocks of {}), optionally after [batch, heads] = [{}, {}]",
            p.mask_file, shape_text, seq_q_, seq_k_, q_blocks(), k_blocks(), block_, batch_, heads_));
      };
      if (s.size() != 2 && s.size() != 4) throw misfit();
      if (s.size() == 4 && (s[0] != batch_ || s[1] != heads_)) throw misfit();
      const std::int64_t rows = s[s.size() - 2], cols = s[s.size() - 1];
      if (rows == seq_q_ && cols == seq_k_)
        source_ = Source::elements;
      else if (rows == q_blocks() && cols == k_blocks())
        source_ = Source::blocks;
      else
        throw misfit();
      per_head_ = s.size() == 4;
      const auto each = static_cast<std::size_t>(rows * cols);
      for (std::int64_t m = 0; m < count(); ++m)
        bits_.emplace_back(file.values.begin() + static_cast<std::ptrdiff_t>(m * each),
                           file.values.begin() + static_cast<std::ptrdiff_t>((m + 1) * each));
      break;
    }
  }
  // The kept count of each mask.
  std::vector<KeyRange> ranges;
  for (std::int64_t m = 0; m < count(); ++m) {
    std::int64_t kept = 0;
    if (source_ == Source::blocks) {
      const auto& bits = bits_[static_cast<std::size_t>(m)];
      for (std::int64_t qb = 0; qb < q_blocks(); ++qb)
        for (std::int64_t kb = 0; kb < k_blocks(); ++kb)
          if (bits[static_cast<std::size_t>(qb * k_blocks() + kb)])
            kept += (std::min(seq_q_, (qb + 1) * block_) - qb * block_) * (std::min(seq_k_, (kb + 1) * block_) - kb * block_);
    } else if (source_ == Source::elements) {
      for (std::uint8_t v : bits_[static_cast<std::size_t>(m)]) kept += v;
    } else {
      for (std::int64_t i = 0; i < seq_q_; ++i) {
        row(m, i, ranges);
        for (const KeyRange& r : ranges) kept += r.end - r.begin;
      }
    }
    kept_.push_back(kept);
  }
}

void SparseMask::row_ranges(std::int64_t i, std::vector<KeyRange>& out) const {
  const std::int64_t t = i + (seq_k_ - seq_q_);
  switch (pattern_) {
    case SparsePattern::causal: add_range(out, 0, t + 1, seq_k_); break;
    case SparsePattern::window: add_range(out, t - window_ / 2, t - window_ / 2 + window_, seq_k_); break;
    case SparsePattern::causal_window: add_range(out, t - window_ + 1, t + 1, seq_k_); break;
    case SparsePattern::global_window:
      if (t >= 0 && t < global_) {
        add_range(out, 0, seq_k_, seq_k_);
      } else {
        add_range(out, 0, global_, seq_k_);
        add_range(out, t - window_ / 2, t - window_ / 2 + window_, seq_k_);
      }
      break;
    default: break;
  }
}

void SparseMask::row(std::int64_t m, std::int64_t i, std::vector<KeyRange>& out) const {
  out.clear();
  switch (source_) {
    case Source::ranges: row_ranges(i, out); break;
    case Source::documents: {
      const std::int64_t t = i + (seq_k_ - seq_q_);
      if (t < 0 || t >= seq_k_) break;
      const auto& starts = doc_starts_[static_cast<std::size_t>(m)];
      const auto next = std::upper_bound(starts.begin(), starts.end(), t);  // the next document's start
      add_range(out, *(next - 1), *next, seq_k_);
      break;
    }
    case Source::blocks: {
      const auto& bits = bits_[static_cast<std::size_t>(m)];
      const std::int64_t qb = i / block_;
      for (std::int64_t kb = 0; kb < k_blocks(); ++kb)
        if (bits[static_cast<std::size_t>(qb * k_blocks() + kb)]) add_range(out, kb * block_, (kb + 1) * block_, seq_k_);
      break;
    }
    case Source::elements: {
      const std::uint8_t* r = bits_[static_cast<std::size_t>(m)].data() + i * seq_k_;
      for (std::int64_t j = 0; j < seq_k_;) {
        if (!r[j]) {
          ++j;
          continue;
        }
        std::int64_t e = j;
        while (e < seq_k_ && r[e]) ++e;
        out.push_back({j, e});
        j = e;
      }
      break;
    }
  }
}

bool SparseMask::keep(std::int64_t m, std::int64_t i, std::int64_t j) const {
  if (source_ == Source::elements) return bits_[static_cast<std::size_t>(m)][static_cast<std::size_t>(i * seq_k_ + j)] != 0;
  if (source_ == Source::blocks)
    return bits_[static_cast<std::size_t>(m)][static_cast<std::size_t>((i / block_) * k_blocks() + j / block_)] != 0;
  std::vector<KeyRange> ranges;
  row(m, i, ranges);
  return std::any_of(ranges.begin(), ranges.end(), [&](const KeyRange& r) { return j >= r.begin && j < r.end; });
}

std::int64_t SparseMask::kept_total() const {
  if (per_head_) return std::accumulate(kept_.begin(), kept_.end(), std::int64_t{0});
  return kept_[0] * batch_ * heads_;
}

double SparseMask::density() const {
  return static_cast<double>(kept_total()) /
         (static_cast<double>(batch_ * heads_) * static_cast<double>(seq_q_) * static_cast<double>(seq_k_));
}

std::vector<BlockKind> SparseMask::classify(std::int64_t m) const {
  const std::int64_t nq = q_blocks(), nk = k_blocks();
  std::vector<BlockKind> kinds(static_cast<std::size_t>(nq * nk), BlockKind::empty);
  std::vector<std::int64_t> counts(static_cast<std::size_t>(nk));
  std::vector<KeyRange> ranges;
  for (std::int64_t qb = 0; qb < nq; ++qb) {
    std::fill(counts.begin(), counts.end(), 0);
    const std::int64_t row_end = std::min(seq_q_, (qb + 1) * block_);
    for (std::int64_t i = qb * block_; i < row_end; ++i) {
      row(m, i, ranges);
      for (const KeyRange& r : ranges)
        for (std::int64_t kb = r.begin / block_; kb * block_ < r.end; ++kb)
          counts[static_cast<std::size_t>(kb)] += std::min(r.end, (kb + 1) * block_) - std::max(r.begin, kb * block_);
    }
    for (std::int64_t kb = 0; kb < nk; ++kb) {
      const std::int64_t area = (row_end - qb * block_) * (std::min(seq_k_, (kb + 1) * block_) - kb * block_);
      const std::int64_t c = counts[static_cast<std::size_t>(kb)];
      kinds[static_cast<std::size_t>(qb * nk + kb)] = c == 0 ? BlockKind::empty : c == area ? BlockKind::full : BlockKind::partial;
    }
  }
  return kinds;
}

std::int64_t BlockLayout::full_blocks() const {
  return std::count(tiles.begin(), tiles.end(), -1);
}

BlockLayout block_layout(const SparseMask& mask) {
  BlockLayout l;
  l.masks = mask.count();
  l.q_blocks = mask.q_blocks();
  l.k_blocks = mask.k_blocks();
  l.block = mask.block();
  const std::int64_t B = l.block;
  l.offsets.push_back(0);
  std::vector<KeyRange> ranges;
  for (std::int64_t m = 0; m < l.masks; ++m) {
    const std::vector<BlockKind> kinds = mask.classify(m);
    for (std::int64_t qb = 0; qb < l.q_blocks; ++qb) {
      for (std::int64_t kb = 0; kb < l.k_blocks; ++kb) {
        const BlockKind kind = kinds[static_cast<std::size_t>(qb * l.k_blocks + kb)];
        if (kind == BlockKind::empty) continue;
        l.cols.push_back(static_cast<std::int32_t>(kb));
        if (kind == BlockKind::full) {
          l.tiles.push_back(-1);
          continue;
        }
        const std::size_t tile = l.partial.size() / static_cast<std::size_t>(B * B);
        l.tiles.push_back(static_cast<std::int32_t>(tile));
        l.partial.resize(l.partial.size() + static_cast<std::size_t>(B * B), 0);
        std::uint8_t* t = l.partial.data() + tile * static_cast<std::size_t>(B * B);
        for (std::int64_t r = 0; r < B && qb * B + r < mask.seq_q(); ++r) {
          mask.row(m, qb * B + r, ranges);
          for (const KeyRange& kr : ranges)
            for (std::int64_t j = std::max(kr.begin, kb * B); j < std::min(kr.end, (kb + 1) * B); ++j)
              t[r * B + (j - kb * B)] = 1;
        }
      }
      l.offsets.push_back(static_cast<std::int32_t>(l.cols.size()));
    }
  }
  l.order = heaviest_blocks_first(l.offsets, l.masks, l.q_blocks);
  return l;
}

std::vector<std::int32_t> heaviest_blocks_first(const std::vector<std::int32_t>& offsets, std::int64_t masks,
                                                std::int64_t q_blocks) {
  std::vector<std::int32_t> order;
  order.reserve(static_cast<std::size_t>(masks * q_blocks));
  for (std::int64_t m = 0; m < masks; ++m) {
    const std::size_t first = order.size();
    for (std::int64_t qb = q_blocks - 1; qb >= 0; --qb) order.push_back(static_cast<std::int32_t>(qb));
    const auto entries = [&](std::int32_t qb) {
      const std::size_t r = static_cast<std::size_t>(m * q_blocks + qb);
      return offsets[r + 1] - offsets[r];
    };
    std::stable_sort(order.begin() + static_cast<std::ptrdiff_t>(first), order.end(),
                     [&](std::int32_t x, std::int32_t y) { return entries(x) > entries(y); });
  }
  return order;
}

}  // namespace fabench

#include "run/validate.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <random>
#include <set>

#include "reference/attention_reference.hpp"
#include "reference/softmax_matmul_reference.hpp"
#include "reference/softmax_reference.hpp"
#include "run/parallel.hpp"

namespace fabench {

std::vector<std::int64_t> sample_rows(std::int64_t groups, std::int64_t rows_per_group, int max_rows,
                                      std::uint64_t seed) {
  std::vector<std::int64_t> out;
  if (groups * rows_per_group <= max_rows) {
    for (std::int64_t r = 0; r < groups * rows_per_group; ++r) out.push_back(r);
    return out;
  }
  std::int64_t per_group = std::max<std::int64_t>(std::min<std::int64_t>(max_rows / groups, rows_per_group), 2);
  per_group = std::min(per_group, rows_per_group);
  std::mt19937_64 rng(seed ^ 0xA5A5A5A5ull);
  for (std::int64_t g = 0; g < groups; ++g) {
    std::set<std::int64_t> rows = {0, rows_per_group - 1};
    while (static_cast<std::int64_t>(rows.size()) < per_group)
      rows.insert(static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(rows_per_group)));
    for (auto r : rows) out.push_back(g * rows_per_group + r);
  }
  return out;
}

namespace {

struct RowError {
  double diff2 = 0, ref2 = 0, max_abs = 0;
  bool nan = false;
  double lse_diff2 = 0, lse_ref2 = 0;
  bool lse_bad = false;  // -inf expected but not given, or NaN
};

double ratio(double diff2, double ref2) {
  if (ref2 > 0) return std::sqrt(diff2 / ref2);
  return diff2 == 0 ? 0.0 : INFINITY;
}

std::size_t count_non_finite(const HostTensor& t) {
  std::size_t bad = 0;
  for (std::size_t i = 0; i < t.spec.count; ++i)
    if (!std::isfinite(load_float(t.bytes.data(), t.spec.type, i))) ++bad;
  return bad;
}

}  // namespace

Validation validate_outputs(const Problem& p, const std::vector<HostTensor>& tensors, const ValidationSettings& s) {
  Validation v;
  v.tolerance = s.tolerance.at(p.dtype);
  const bool attention = p.op == OpKind::attention;
  const bool matmul = p.op == OpKind::softmax_matmul;
  const HostTensor& out = tensors[attention ? std::size_t{attention_tensors::o}
                                  : matmul  ? std::size_t{softmax_matmul_tensors::out}
                                            : std::size_t{softmax_tensors::y}];

  if (std::size_t bad = count_non_finite(out)) {
    v.rel_l2 = INFINITY;
    v.max_abs = INFINITY;
    v.reason = fmt::format("{} of {} {} elements are NaN or Inf (unwritten or overflowed)", bad, out.spec.count,
                           out.spec.name);
    return v;
  }

  const std::int64_t groups = attention ? p.batch * p.heads : matmul ? p.batch : 1;
  const std::int64_t rows_per_group = attention ? p.seq_q : p.rows;
  const std::int64_t width = attention ? p.head_dim : matmul ? p.d3 : p.cols;
  auto rows = sample_rows(groups, rows_per_group, s.max_rows, p.seed);
  std::vector<RowError> errors(rows.size());
  parallel_for(static_cast<std::int64_t>(rows.size()), [&](std::int64_t k) {
    const std::int64_t row = rows[k];
    std::vector<double> ref(static_cast<std::size_t>(width));
    RowError& e = errors[k];
    if (attention) {
      double lse = 0;
      attention_reference_row(p, tensors[attention_tensors::q].values.data(), tensors[attention_tensors::k].values.data(),
                              tensors[attention_tensors::v].values.data(), row / (p.heads * p.seq_q),
                              (row / p.seq_q) % p.heads, row % p.seq_q, ref.data(), &lse);
      float got = tensors[attention_tensors::lse].as<float>()[row];
      if (std::isinf(lse)) {
        e.lse_bad = !(std::isinf(got) && got < 0);
      } else if (!std::isfinite(got)) {
        e.lse_bad = true;
      } else {
        e.lse_diff2 = (got - lse) * (got - lse);
        e.lse_ref2 = lse * lse;
      }
    } else if (matmul) {
      softmax_matmul_reference_row(p, tensors[softmax_matmul_tensors::x].values.data(),
                                   tensors[softmax_matmul_tensors::v].values.data(), row / p.rows, row % p.rows,
                                   ref.data());
    } else {
      const HostTensor& mask = tensors[softmax_tensors::mask];
      const HostTensor& lengths = tensors[softmax_tensors::lengths];
      softmax_reference_row(p, row, tensors[softmax_tensors::x].values.data() + row * p.cols,
                            mask.spec.count ? mask.as<std::uint8_t>() + row * p.cols : nullptr,
                            lengths.spec.count ? lengths.as<std::int32_t>()[row] : 0, ref.data());
    }
    for (std::int64_t c = 0; c < width; ++c) {
      double got = load_float(out.bytes.data(), out.spec.type, static_cast<std::size_t>(row * width + c));
      double d = got - ref[c];
      e.diff2 += d * d;
      e.ref2 += ref[c] * ref[c];
      e.max_abs = std::max(e.max_abs, std::fabs(d));
    }
  });

  RowError total;
  std::int64_t lse_bad_rows = 0;
  for (const RowError& e : errors) {
    total.diff2 += e.diff2;
    total.ref2 += e.ref2;
    total.max_abs = std::max(total.max_abs, e.max_abs);
    total.lse_diff2 += e.lse_diff2;
    total.lse_ref2 += e.lse_ref2;
    lse_bad_rows += e.lse_bad;
  }
  v.rows_checked = static_cast<std::int64_t>(rows.size());
  const double out_rel = ratio(total.diff2, total.ref2);
  const double lse_rel = attention ? ratio(total.lse_diff2, total.lse_ref2) : 0.0;
  v.rel_l2 = std::max(out_rel, lse_rel);
  v.max_abs = total.max_abs;
  if (lse_bad_rows > 0) {
    v.reason = fmt::format("lse wrong in {} of {} checked rows (NaN, or finite where no key is visible)", lse_bad_rows,
                           rows.size());
  } else if (out_rel > v.tolerance) {
    v.reason = fmt::format("{} rel_l2 {:.3g} > tolerance {:.3g} over {} rows", out.spec.name, out_rel, v.tolerance,
                           rows.size());
  } else if (lse_rel > v.tolerance) {
    v.reason = fmt::format("lse rel_l2 {:.3g} > tolerance {:.3g} over {} rows", lse_rel, v.tolerance, rows.size());
  }
  v.passed = v.reason.empty();
  return v;
}

}  // namespace fabench

#include "ops/validation.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <random>
#include <set>

#include "core/parallel.hpp"

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

void check_lse(float got, double ref, RowError& e) {
  if (std::isinf(ref)) {
    e.lse_bad = !(std::isinf(got) && got < 0);
  } else if (!std::isfinite(got)) {
    e.lse_bad = true;
  } else {
    e.lse_diff2 = (got - ref) * (got - ref);
    e.lse_ref2 = ref * ref;
  }
}

namespace {

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

void accumulate_row(const HostTensor& out, std::int64_t row, std::int64_t width, const double* ref, RowError& e) {
  for (std::int64_t c = 0; c < width; ++c) {
    double got = load_float(out.bytes.data(), out.spec.type, static_cast<std::size_t>(row * width + c));
    double d = got - ref[c];
    e.diff2 += d * d;
    e.ref2 += ref[c] * ref[c];
    e.max_abs = std::max(e.max_abs, std::fabs(d));
  }
}

}  // namespace

Validation validate_rows(const Problem& p, const OutputRows& o, const ValidationSettings& s,
                         const ReferenceRow& reference) {
  Validation v;
  v.tolerance = s.tolerance.at(p.dtype);
  if (std::size_t bad = count_non_finite(o.out)) {
    v.rel_l2 = INFINITY;
    v.max_abs = INFINITY;
    v.reason = fmt::format("{} of {} {} elements are NaN or Inf (unwritten or overflowed)", bad, o.out.spec.count,
                           o.out.spec.name);
    return v;
  }

  auto rows = sample_rows(o.groups, o.rows_per_group, s.max_rows, p.seed);
  std::vector<RowError> errors(rows.size());
  parallel_for(static_cast<std::int64_t>(rows.size()), [&](std::int64_t k) {
    std::vector<double> ref(static_cast<std::size_t>(o.width));
    reference(rows[k], ref.data(), errors[k]);
    accumulate_row(o.out, rows[k], o.width, ref.data(), errors[k]);
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
  const double floor2 = o.ref_rms_floor * o.ref_rms_floor * static_cast<double>(rows.size()) * static_cast<double>(o.width);
  const double out_rel = ratio(total.diff2, std::max(total.ref2, floor2));
  const double lse_rel = o.has_lse ? ratio(total.lse_diff2, total.lse_ref2) : 0.0;
  v.rel_l2 = std::max(out_rel, lse_rel);
  v.max_abs = total.max_abs;
  if (lse_bad_rows > 0) {
    v.reason = fmt::format("lse wrong in {} of {} checked rows (NaN, or finite where no key is visible)", lse_bad_rows,
                           rows.size());
  } else if (out_rel > v.tolerance) {
    v.reason = fmt::format("{} rel_l2 {:.3g} > tolerance {:.3g} over {} rows", o.out.spec.name, out_rel, v.tolerance,
                           rows.size());
  } else if (lse_rel > v.tolerance) {
    v.reason = fmt::format("lse rel_l2 {:.3g} > tolerance {:.3g} over {} rows", lse_rel, v.tolerance, rows.size());
  }
  v.passed = v.reason.empty();
  return v;
}

void fold_validation(Validation& total, const Validation& part, const char* what) {
  if (total.passed && !part.passed) {
    total.passed = false;
    total.reason = fmt::format("{}: {}", what, part.reason);
  }
  total.rel_l2 = std::max(total.rel_l2, part.rel_l2);
  total.max_abs = std::max(total.max_abs, part.max_abs);
  total.rows_checked += part.rows_checked;
}

}  // namespace fabench

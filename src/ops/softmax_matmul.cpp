// softmax_matmul (seed 004): out = softmax(X) @ V per batch, X [batch, d1, d2], V [batch, d2, d3].
// Problem keeps d1 and d2 in rows and cols.
#include <fmt/format.h>

#include "ops/op_helpers.hpp"
#include "reference/softmax_matmul_reference.hpp"

namespace fabench {

namespace {

std::vector<TensorSpec> tensors(const Problem& p) {
  const ElemType et = storage_type(p.dtype);
  return {
      {"x", et, checked_count("x", {p.batch, p.rows, p.cols}), false, Fill::uniform_wide},
      {"v", et, checked_count("v", {p.batch, p.cols, p.d3}), false, Fill::normal},
      {"out", et, checked_count("out", {p.batch, p.rows, p.d3}), true, Fill::none},
  };
}

// 2*B*d1*d2*d3 for the product plus softmax's 5 per element of X.
double flops(const Problem& p) {
  const double x = static_cast<double>(p.batch) * static_cast<double>(p.rows) * static_cast<double>(p.cols);
  return 2.0 * x * static_cast<double>(p.d3) + 5.0 * x;
}

// X, V and the output.
double bytes(const Problem& p) {
  const double es = static_cast<double>(elem_size(storage_type(p.dtype)));
  const double b = static_cast<double>(p.batch);
  return b * (static_cast<double>(p.rows) * p.cols + static_cast<double>(p.cols) * p.d3 +
              static_cast<double>(p.rows) * p.d3) * es;
}

Validation validate(const Problem& p, const std::vector<HostTensor>& t, const ValidationSettings& s) {
  const float* x = t[softmax_matmul_tensors::x].values.data();
  const float* v = t[softmax_matmul_tensors::v].values.data();
  return validate_rows(p, {t[softmax_matmul_tensors::out], p.batch, p.rows, p.d3, false}, s,
                       [&](std::int64_t row, double* ref, RowError&) {
                         softmax_matmul_reference_row(p, x, v, row / p.rows, row % p.rows, ref);
                       });
}

ShapeColumns shape_columns(const Problem& p) {
  ShapeColumns c;
  c.batch = std::to_string(p.batch);
  c.rows = std::to_string(p.rows);
  c.cols = std::to_string(p.cols);
  c.d3 = std::to_string(p.d3);
  return c;
}

}  // namespace

const OpSpec& softmax_matmul_op() {
  static const OpSpec spec = [] {
    OpSpec s;
    s.kind = OpKind::softmax_matmul;
    s.name = "softmax_matmul";
    s.axes = {dtype_axis(), positive_int_axis("batch", &Problem::batch), positive_int_axis("d1", &Problem::rows),
              positive_int_axis("d2", &Problem::cols), positive_int_axis("d3", &Problem::d3)};
    s.check_required = [](const AxisGiven& given) { return first_missing(given, {"d1", "d2", "d3"}); };
    s.key = [](const Problem& p) {
      return fmt::format("softmax_matmul/{}/b{}/d1_{}/d2_{}/d3_{}", to_string(p.dtype), p.batch, p.rows, p.cols, p.d3);
    };
    s.label = [](const Problem& p) {
      return fmt::format("{} b{} {}x{} @ {}x{}", to_string(p.dtype), p.batch, p.rows, p.cols, p.cols, p.d3);
    };
    s.default_scale = unit_scale;
    s.tensors = tensors;
    s.flops = flops;
    s.bytes = bytes;
    s.validate = validate;
    s.shape_columns = shape_columns;
    s.row_shape = [](const TextRow& r) {
      return fmt::format("{} b{} {}x{} @ {}x{}", row_text(r, "dtype"), row_text(r, "batch"), row_text(r, "rows"),
                         row_text(r, "cols"), row_text(r, "cols"), row_text(r, "d3"));
    };
    // Seed 004's tables: rows d2, columns d3.
    s.row_pivot = [](const TextRow& r) { return PivotPlace{"", "d2 \\ d3", row_text(r, "cols"), row_text(r, "d3")}; };
    return s;
  }();
  return spec;
}

}  // namespace fabench

// softmax: y = dropout(softmax(scale * x)) row-wise over rows x cols, with an optional mask.
#include <fmt/format.h>

#include "ops/op_helpers.hpp"
#include "reference/softmax_reference.hpp"

namespace fabench {

namespace {

AxisSpec dropout_axis() {
  return {"dropout", [](const nlohmann::ordered_json& v, Problem& p) -> std::string {
            if (!v.is_number() || !(v.get<double>() >= 0 && v.get<double>() < 1))
              return fmt::format("expected a probability in [0, 1), got {}", describe_json(v));
            p.dropout = v.get<double>();
            return {};
          }};
}

std::string label(const Problem& p) {
  std::string s = fmt::format("{} {}x{}", to_string(p.dtype), p.rows, p.cols);
  if (p.scale) s += fmt::format(" scale={:g}", *p.scale);
  if (p.mask != MaskKind::none) s += fmt::format(" mask={}", to_string(p.mask));
  if (p.dropout > 0) s += fmt::format(" p={:g}", p.dropout);
  return s;
}

std::vector<TensorSpec> tensors(const Problem& p) {
  const ElemType et = storage_type(p.dtype);
  const std::size_t n = checked_count("x", {p.rows, p.cols});
  const auto rows = static_cast<std::size_t>(p.rows);
  return {
      {"x", et, n, false, Fill::uniform_wide},
      {"y", et, n, true, Fill::none},
      {"mask", ElemType::u8, p.mask == MaskKind::tensor ? n : 0, false, Fill::keep_bytes},
      {"lengths", ElemType::i32, p.mask == MaskKind::lengths ? rows : 0, false, Fill::row_lengths},
  };
}

// 5 per element (max, subtract, exp, sum, divide): a nominal count, softmax is memory-bound.
double flops(const Problem& p) { return 5.0 * static_cast<double>(p.rows) * static_cast<double>(p.cols); }

// Input + output + mask (1 byte per element, or 4 bytes per row for lengths).
double bytes(const Problem& p) {
  const double es = static_cast<double>(elem_size(storage_type(p.dtype)));
  const double elems = static_cast<double>(p.rows) * static_cast<double>(p.cols);
  const double mask = p.mask == MaskKind::tensor ? elems : p.mask == MaskKind::lengths ? 4.0 * p.rows : 0.0;
  return 2.0 * elems * es + mask;
}

Validation validate(const Problem& p, const std::vector<HostTensor>& t, const ValidationSettings& s) {
  const HostTensor& mask = t[softmax_tensors::mask];
  const HostTensor& lengths = t[softmax_tensors::lengths];
  const float* x = t[softmax_tensors::x].values.data();
  return validate_rows(p, {t[softmax_tensors::y], 1, p.rows, p.cols, false}, s,
                       [&](std::int64_t row, double* ref, RowError&) {
                         softmax_reference_row(p, row, x + row * p.cols,
                                               mask.spec.count ? mask.as<std::uint8_t>() + row * p.cols : nullptr,
                                               lengths.spec.count ? lengths.as<std::int32_t>()[row] : 0, ref);
                       });
}

ShapeColumns shape_columns(const Problem& p) {
  ShapeColumns c;
  c.rows = std::to_string(p.rows);
  c.cols = std::to_string(p.cols);
  c.mask = std::string(to_string(p.mask));
  c.dropout = csv_real(p.dropout);
  return c;
}

std::string row_shape(const TextRow& r) {
  std::string s = fmt::format("{} {}x{}", row_text(r, "dtype"), row_text(r, "rows"), row_text(r, "cols"));
  if (row_text(r, "mask") != "none" && !row_text(r, "mask").empty()) s += " mask=" + row_text(r, "mask");
  if (!row_text(r, "dropout").empty() && row_text(r, "dropout") != "0") s += " p=" + row_text(r, "dropout");
  return s;
}

// Tables per mask and dropout; rows x cols.
PivotPlace row_pivot(const TextRow& r) {
  PivotPlace place;
  if (row_text(r, "mask") != "none") place.title += " mask=" + row_text(r, "mask");
  if (row_text(r, "dropout") != "0") place.title += " dropout=" + row_text(r, "dropout");
  place.corner = "rows \\ cols";
  place.row = row_text(r, "rows");
  place.column = row_text(r, "cols");
  return place;
}

}  // namespace

const OpSpec& softmax_op() {
  static const OpSpec spec = [] {
    OpSpec s;
    s.kind = OpKind::softmax;
    s.name = "softmax";
    s.axes = {dtype_axis(), positive_int_axis("rows", &Problem::rows), positive_int_axis("cols", &Problem::cols),
              scale_axis(), choice_axis("mask", parse_mask, mask_choices, &Problem::mask), dropout_axis()};
    s.check_required = [](const AxisGiven& given) { return first_missing(given, {"rows", "cols"}); };
    s.key = [](const Problem& p) {
      return fmt::format("softmax/{}/r{}/c{}/scale{}/mask-{}/drop{:g}", to_string(p.dtype), p.rows, p.cols,
                         scale_key(p), to_string(p.mask), p.dropout);
    };
    s.label = label;
    s.default_scale = unit_scale;
    s.tensors = tensors;
    s.flops = flops;
    s.bytes = bytes;
    s.validate = validate;
    s.shape_columns = shape_columns;
    s.row_shape = row_shape;
    s.row_pivot = row_pivot;
    s.memory_bound = true;
    return s;
  }();
  return spec;
}

}  // namespace fabench

#pragma once
// An OpSpec is everything fa-bench knows about one op (softmax, attention, ...): its config axes
// and their checks, its key and label, its tensors, its FLOP and byte models, its validation, its
// CSV columns and what `list` says about its variants. The harness looks an op up in the registry
// (ops/registry.hpp) and asks its OpSpec instead of switching on OpKind, so a new op is one file.
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/host_tensor.hpp"
#include "core/op_tensors.hpp"
#include "core/problem.hpp"
#include "core/result.hpp"
#include "core/settings.hpp"
#include "ops/validation.hpp"

namespace fabench {

struct Variant;

// One config axis of an op: `apply` checks a value and sets it on the problem, returning an error
// text (the caller prefixes the JSON path), or "" when the value is valid.
struct AxisSpec {
  std::string name;
  std::function<std::string(const nlohmann::ordered_json& value, Problem& p)> apply;
};

// Whether an experiment gives an axis (by name).
using AxisGiven = std::function<bool(const std::string& axis)>;

// The base CSV columns that describe a shape: each op fills those it has; the others stay empty.
struct ShapeColumns {
  std::string batch, heads, kv_heads, seq_q, seq_k, head_dim, causal, rows, cols, d3, mask, dropout;
};

// How a column is typed in the JSON result file (the CSV holds text).
enum class ColumnType { integer, real, boolean, text };

// A column of an op's own beyond the base list: it follows the base columns in files whose plan
// holds this op, and is empty in the rows of other ops.
struct ExtraColumn {
  std::string name;
  ColumnType type = ColumnType::text;
  bool describes_case = true;  // true: a shape or option (in `fa-bench plan` rows); false: a measurement
  std::function<std::string(const Result&)> value;
};

// A result row as the sinks write it and the readers (console, report, compare) take it back:
// column name -> text (report/rows.hpp builds and reads them).
using TextRow = std::map<std::string, std::string>;

// Where a result row sits in a markdown pivot table (report/console.hpp's markdown_pivot): tables
// are titled "<variant> <dtype><title><params>", so `title` holds the options that split tables
// (" causal gqa 8:2"), `corner` names the rows and columns ("seq_len \\ head_dim").
struct PivotPlace {
  std::string title, corner, row, column;
};

// Which measured bandwidth pct_peak_bw divides by.
enum class BandwidthCeiling {
  copy,  // device-to-device copy (bytes read + written): ops that write about as much as they read
  read   // streaming read: ops that mostly read (a KV cache); empty where not calibrated
};

struct OpSpec {
  OpKind kind = OpKind::softmax;
  std::string name;  // the config's "op" and the CSV's op column

  std::vector<AxisSpec> axes;  // in the order "unknown key" errors list them
  // Axes an experiment must give: the error text for its JSON path, or "".
  std::function<std::string(const AxisGiven& given)> check_required;
  // On each expanded problem: fills defaults that depend on other axes and checks combinations
  // (e.g. heads a multiple of kv_heads). The error text for the experiment's path, or "".
  std::function<std::string(Problem& p, const AxisGiven& given)> complete;

  std::function<std::string(const Problem&)> key;    // stable identity (resume, merge, compare)
  std::function<std::string(const Problem&)> label;  // short shape for progress lines
  std::function<double(const Problem&)> default_scale;  // softmax(scale * x) when no scale is given

  std::function<std::vector<TensorSpec>(const Problem&)> tensors;  // in LaunchArgs order
  // Fills the inputs whose TensorSpec says Fill::derived from the others, which are filled (and
  // decoded to float) by then: attention_bwd's O and lse are the forward of its Q, K, V. Empty for
  // ops without derived inputs. on_device: the sweep's CUDA device (current) may be used to make
  // them (the runner's, when a GPU variant needs the inputs); false: the host alone.
  std::function<void(const Problem&, std::vector<HostTensor>& tensors, bool on_device)> derive_inputs;
  std::function<double(const Problem&)> flops;  // see the op's file for the model
  std::function<double(const Problem&)> bytes;  // each input read once, each output written once
  // Outputs (read back into `tensors`) against the CPU reference, with the shared helpers of
  // ops/validation.hpp.
  std::function<Validation(const Problem&, const std::vector<HostTensor>&, const ValidationSettings&)> validate;

  std::function<ShapeColumns(const Problem&)> shape_columns;
  // From a result row (possibly read from a file): the shape text of progress lines and summaries
  // (the label's text), and its place in a markdown pivot.
  std::function<std::string(const TextRow&)> row_shape;
  std::function<PivotPlace(const TextRow&)> row_pivot;
  std::vector<ExtraColumn> extra_columns;
  BandwidthCeiling bandwidth_ceiling = BandwidthCeiling::copy;
  // The console quotes GB/s and % of bandwidth for a memory-bound op, TFLOP/s and % of FLOPs otherwise.
  bool memory_bound = false;

  std::function<std::string(const Variant&)> list_details;  // extra `fa-bench list` lines; may be empty

  // Self-timed ops run a whole loop per launch that synchronises inside (generate: a prefill and
  // T decode steps, events read per step), which the harness's hold-the-stream timing cannot
  // wrap. Their variants time themselves into LaunchArgs::metrics; the runner runs the validated
  // launch, `warmup` launches, then samples launches under the usual stopping rule, each sample
  // being the launch's total_ms (the L2 flushed as timing.l2 says before each launch, outside its
  // events). `summarize` then turns the samples into Result::metrics for the extra columns.
  bool self_timed = false;
  std::function<void(const Problem&, const std::vector<LaunchMetrics>& samples, Result&)> summarize;
};

}  // namespace fabench

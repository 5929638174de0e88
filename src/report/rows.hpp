#pragma once
// A Result as a flat row of named text fields: the one schema every sink writes and every reader
// (resume, merge, compare, plot.py) reads. A file's columns are the base columns, always the same,
// followed by the extra columns of the ops its plan holds (ops/op.hpp's ExtraColumn), so files of
// ops without extra columns keep exactly the base list.
#include <map>
#include <string>
#include <vector>

#include "config/plan.hpp"
#include "core/result.hpp"
#include "ops/op.hpp"

namespace fabench {

constexpr int kSchemaVersion = 1;

struct Column {
  std::string name;
  ColumnType type = ColumnType::text;  // how the JSON file types it
};

const std::vector<std::string>& result_columns();  // the base columns' names
std::vector<std::string> result_fields(const Result& r);  // aligned with result_columns()

// The base columns, then the extra columns of `ops` in the order given (registry order), each
// name once.
std::vector<Column> file_columns(const std::vector<const OpSpec*>& ops);
// The columns of a plan's files: the extra columns of the ops its experiments use.
std::vector<Column> plan_columns(const Plan& plan);
std::vector<std::string> column_names(const std::vector<Column>& columns);

// A row read back from a file: column name -> text (TextRow, ops/op.hpp).
TextRow to_text_row(const Result& r);                     // the base columns and r's op's extra columns
TextRow to_text_row(const Result& r, const OpSpec& op);  // ... with `op`'s shape and extra columns
// The row's fields in `columns` order: "" where it has no such column (another op's extra column).
std::vector<std::string> row_fields(const TextRow& row, const std::vector<Column>& columns);

// JSON object for a row: numbers where the column is numeric, null where empty.
ordered_json row_to_json(const TextRow& row, const std::vector<Column>& columns);
ordered_json row_to_json(const TextRow& row);  // base columns only

}  // namespace fabench

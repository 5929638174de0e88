#pragma once
// A Result as a flat row of named text fields: the one schema every sink writes and every reader
// (resume, merge, compare, plot.py) reads.
#include <map>
#include <string>
#include <vector>

#include "config/plan.hpp"
#include "core/result.hpp"

namespace fabench {

constexpr int kSchemaVersion = 1;

const std::vector<std::string>& result_columns();
std::vector<std::string> result_fields(const Result& r);  // aligned with result_columns()

// A row read back from a file: column name -> text.
using TextRow = std::map<std::string, std::string>;
TextRow to_text_row(const Result& r);

// JSON object for a row: numbers where the column is numeric, null where empty.
ordered_json row_to_json(const TextRow& row);

}  // namespace fabench

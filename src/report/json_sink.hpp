#pragma once
// The JSON result file: a metadata block and the rows. Rewritten whole (to a temporary file, then
// renamed), so it is always valid JSON; at most once a second while rows arrive, since rewriting
// after every row costs time quadratic in the rows. The CSV, flushed row by row, is what --resume
// reads, and the JSON is rebuilt from it then, so a killed job loses nothing.
#include <chrono>
#include <string>
#include <vector>

#include "report/rows.hpp"

namespace fabench {

class JsonSink {
 public:
  JsonSink(std::string path, ordered_json metadata);  // rows of the base columns
  JsonSink(std::string path, ordered_json metadata, std::vector<Column> columns);
  void add(const TextRow& row);  // appends; rewrites the file when the last write is a second old
  void write();                   // rewrites the file now (call once all rows are in)
  std::size_t size() const { return rows_.size(); }

 private:
  std::string path_;
  ordered_json metadata_;
  std::vector<Column> columns_;
  std::vector<ordered_json> rows_;
  std::chrono::steady_clock::time_point last_write_{};
};

// Reads a JSON result file written by JsonSink: {"metadata": ..., "rows": [...]}.
ordered_json read_result_json(const std::string& path);

}  // namespace fabench

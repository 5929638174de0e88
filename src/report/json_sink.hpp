#pragma once
// The JSON result file: a metadata block and the rows. Rewritten whole (to a temporary file, then
// renamed) after every row, so it is always valid JSON and never behind the CSV by more than a row.
#include <string>
#include <vector>

#include "report/rows.hpp"

namespace fabench {

class JsonSink {
 public:
  JsonSink(std::string path, ordered_json metadata);
  void add(const TextRow& row);  // appends and rewrites the file
  void add_without_write(const TextRow& row);  // appends; call write() once at the end
  void write() const;
  std::size_t size() const { return rows_.size(); }

 private:
  std::string path_;
  ordered_json metadata_;
  std::vector<ordered_json> rows_;
};

// Reads a JSON result file written by JsonSink: {"metadata": ..., "rows": [...]}.
ordered_json read_result_json(const std::string& path);

}  // namespace fabench

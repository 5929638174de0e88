#pragma once
// CSV with RFC 4180 quoting: rows appended and flushed one at a time, and read back.
#include <fstream>
#include <string>
#include <vector>

#include "report/rows.hpp"

namespace fabench {

std::string csv_escape(const std::string& field);
std::vector<std::string> csv_split_line(const std::string& line);  // one record, quotes honoured

struct CsvTable {
  std::vector<std::string> header;
  std::vector<TextRow> rows;
};
// Throws std::runtime_error naming the file and line on a malformed record.
CsvTable read_csv(const std::string& path);

class CsvWriter {
 public:
  // Appends to `path`; writes `header` when the file is new or empty.
  CsvWriter(const std::string& path, const std::vector<std::string>& header);
  explicit CsvWriter(const std::string& path);  // the base columns as header
  void write(const std::vector<std::string>& fields);  // flushed before returning

 private:
  std::ofstream out_;
};

}  // namespace fabench

namespace fabench {
// A killed job can leave a half-written last line; cut the file back to its last newline.
// Returns true when something was cut.
bool truncate_partial_last_line(const std::string& path);
}  // namespace fabench

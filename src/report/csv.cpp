#include "report/csv.hpp"

#include <filesystem>
#include <fmt/format.h>
#include <stdexcept>

namespace fabench {

std::string csv_escape(const std::string& f) {
  if (f.find_first_of(",\"\n\r") == std::string::npos) return f;
  std::string out = "\"";
  for (char c : f) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::vector<std::string> csv_split_line(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else if (c != '\r') {
      fields.back() += c;
    }
  }
  if (quoted) throw std::runtime_error("unterminated quoted field");
  return fields;
}

CsvTable read_csv(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(fmt::format("cannot read \"{}\"", path));
  CsvTable t;
  std::string line, record;
  std::size_t line_no = 0, record_start = 0, quotes = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (record.empty()) record_start = line_no;
    record += record.empty() ? line : "\n" + line;
    // A record continues while it holds an odd number of quotes (a newline inside a quoted field).
    // Counted per line, not over the whole record: an unclosed quote must not make this quadratic.
    for (char c : line) quotes += c == '"';
    if (quotes % 2) continue;
    quotes = 0;
    if (record.empty()) continue;
    std::vector<std::string> fields;
    try {
      fields = csv_split_line(record);
    } catch (const std::runtime_error& e) {
      throw std::runtime_error(fmt::format("{}:{}: {}", path, record_start, e.what()));
    }
    if (t.header.empty()) {
      t.header = fields;
    } else {
      if (fields.size() != t.header.size())
        throw std::runtime_error(fmt::format("{}:{}: {} fields, header has {} (a truncated row?)", path, record_start,
                                             fields.size(), t.header.size()));
      TextRow row;
      for (std::size_t i = 0; i < fields.size(); ++i) row[t.header[i]] = fields[i];
      t.rows.push_back(std::move(row));
    }
    record.clear();
  }
  return t;
}

CsvWriter::CsvWriter(const std::string& path) : CsvWriter(path, result_columns()) {}

CsvWriter::CsvWriter(const std::string& path, const std::vector<std::string>& header) {
  std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
  const bool fresh = !std::filesystem::exists(p) || std::filesystem::file_size(p) == 0;
  out_.open(path, std::ios::app);
  if (!out_) throw std::runtime_error(fmt::format("cannot write \"{}\"", path));
  if (fresh) write(header);
}

void CsvWriter::write(const std::vector<std::string>& fields) {
  for (std::size_t i = 0; i < fields.size(); ++i) out_ << (i ? "," : "") << csv_escape(fields[i]);
  out_ << "\n";
  out_.flush();
}

}  // namespace fabench

namespace fabench {

bool truncate_partial_last_line(const std::string& path) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec || size == 0) return false;
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.back() == '\n') return false;
  auto last = text.rfind('\n');
  std::filesystem::resize_file(path, last == std::string::npos ? 0 : last + 1);
  return true;
}

}  // namespace fabench

#include "report/json_sink.hpp"

#include "core/json_depth.hpp"

#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace fabench {

JsonSink::JsonSink(std::string path, ordered_json metadata)
    : JsonSink(std::move(path), std::move(metadata), file_columns({})) {}

JsonSink::JsonSink(std::string path, ordered_json metadata, std::vector<Column> columns)
    : path_(std::move(path)), metadata_(std::move(metadata)), columns_(std::move(columns)) {}

void JsonSink::add(const TextRow& row) {
  rows_.push_back(row_to_json(row, columns_));
  if (std::chrono::steady_clock::now() - last_write_ >= std::chrono::seconds(1)) write();
}

void JsonSink::write() {
  last_write_ = std::chrono::steady_clock::now();
  ordered_json doc;
  doc["metadata"] = metadata_;
  doc["rows"] = rows_;
  std::filesystem::path p(path_);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
  const std::string tmp = path_ + ".tmp";
  {
    std::ofstream out(tmp);
    if (!out) throw std::runtime_error(fmt::format("cannot write \"{}\"", tmp));
    out << doc.dump(1) << "\n";
  }
  std::filesystem::rename(tmp, path_);
}

ordered_json read_result_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("cannot read \"{}\"", path));
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  if (auto at = json_too_deep(text))
    throw std::runtime_error(fmt::format("\"{}\": nested deeper than {} levels at byte {}", path, kMaxJsonDepth, *at));
  try {
    ordered_json j = ordered_json::parse(text);
    if (!j.is_object() || !j.contains("metadata") || !j.contains("rows") || !j["metadata"].is_object())
      throw std::runtime_error(fmt::format("\"{}\" is not an fa-bench result file (no metadata/rows)", path));
    return j;
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(fmt::format("\"{}\": not valid JSON: {}", path, e.what()));
  }
}

}  // namespace fabench

#include "app/merge.hpp"

#include <algorithm>
#include <filesystem>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <map>
#include <set>

#include "config/expand.hpp"
#include "report/csv.hpp"
#include "report/json_sink.hpp"

namespace fabench {

namespace {

std::vector<std::string> csv_files(const std::vector<std::string>& inputs) {
  std::vector<std::string> out;
  for (const auto& in : inputs) {
    if (std::filesystem::is_directory(in)) {
      std::vector<std::string> found;
      for (const auto& e : std::filesystem::directory_iterator(in))
        if (e.path().extension() == ".csv") found.push_back(e.path().string());
      std::sort(found.begin(), found.end());
      out.insert(out.end(), found.begin(), found.end());
    } else {
      out.push_back(in);
    }
  }
  return out;
}

// What must agree between shards for their union to be one run.
ordered_json identity(const ordered_json& meta) {
  return {{"config", meta.value("config", ordered_json())},
          {"seed", meta.value("seed", ordered_json())},
          {"filter", meta.value("filter", ordered_json())},
          {"git_revision", meta.contains("tool") ? meta["tool"].value("git_revision", "") : ""}};
}

}  // namespace

int run_merge(const MergeOptions& opt, const Registry& registry) {
  const auto files = csv_files(opt.inputs);
  if (files.empty()) {
    fmt::print(stderr, "fa-bench merge: no CSV files in {}\n", fmt::join(opt.inputs, ", "));
    return 2;
  }
  std::vector<TextRow> rows;
  std::vector<std::pair<std::string, std::vector<std::string>>> headers;  // file -> its header
  std::map<std::string, std::string> source_of;  // key -> file, to name duplicates
  std::vector<std::string> duplicates;
  ordered_json first_meta;
  std::string first_file;
  ordered_json shards = ordered_json::array();
  for (const auto& file : files) {
    const std::string json_path = file.substr(0, file.size() - 4) + ".json";
    ordered_json doc;
    try {
      doc = read_result_json(json_path);
    } catch (const std::exception& e) {
      fmt::print(stderr, "fa-bench merge: {} needs its JSON beside it: {}\n", file, e.what());
      return 2;
    }
    const ordered_json& meta = doc["metadata"];
    if (first_file.empty()) {
      first_meta = meta;
      first_file = file;
    } else if (const ordered_json mine = identity(meta), theirs = identity(first_meta);
               !opt.allow_mixed && mine != theirs) {
      for (const auto& item : mine.items())
        if (item.value() != theirs.at(item.key()))
          fmt::print(stderr, "fa-bench merge: {} and {} differ in {}; pass --allow-mixed to merge anyway\n",
                     first_file, file, item.key());
      return 2;
    }
    shards.push_back({{"file", file}, {"shard", meta.value("shard", "0/1")}, {"host", meta.value("host", "")},
                      {"slurm", meta.value("slurm", ordered_json())}, {"started_at", meta.value("started_at", "")}});
    CsvTable t;
    try {
      t = read_csv(file);
    } catch (const std::exception& e) {
      fmt::print(stderr, "fa-bench merge: {}\n", e.what());
      return 2;
    }
    headers.emplace_back(file, t.header);
    for (auto& row : t.rows) {
      const std::string key = row.at("key");
      if (source_of.count(key)) {
        duplicates.push_back(fmt::format("{} (in {} and {})", key, source_of[key], file));
        continue;
      }
      source_of[key] = file;
      rows.push_back(std::move(row));
    }
  }

  // The cases the plan expands to (with the run's filter), in plan order.
  std::vector<std::string> expected;
  std::vector<Column> columns;
  try {
    Plan plan = parse_plan(first_meta.at("config").dump(), registry, first_file + " (metadata.config)");
    for (const auto& ec : filter_cases(expand_plan(plan, registry), first_meta.value("filter", "")))
      expected.push_back(ec.c.key());
    columns = plan_columns(plan);
  } catch (const std::exception& e) {
    fmt::print(stderr, "fa-bench merge: cannot expand the config stored in {}: {}\n", first_file, e.what());
    return 2;
  }
  for (const auto& [file, header] : headers)
    if (header != column_names(columns)) {
      fmt::print(stderr, "fa-bench merge: {} has other columns than this fa-bench writes\n", file);
      return 2;
    }
  std::set<std::string> expected_set(expected.begin(), expected.end());
  std::vector<std::string> missing, unexpected;
  for (const auto& key : expected)
    if (!source_of.count(key)) missing.push_back(key);
  for (const auto& row : rows)
    if (!expected_set.count(row.at("key"))) unexpected.push_back(row.at("key"));

  for (const auto& d : duplicates) fmt::print(stderr, "duplicate: {}\n", d);
  for (const auto& k : unexpected) fmt::print(stderr, "not in the plan: {}\n", k);
  for (const auto& k : missing) fmt::print(stderr, "missing: {}\n", k);
  const bool complete = missing.empty() && duplicates.empty() && (unexpected.empty() || opt.allow_mixed);
  if (!complete && !opt.allow_missing) {
    fmt::print(stderr, "fa-bench merge: {} of {} cases missing, {} duplicated, {} not in the plan; nothing written "
                       "(--allow-missing writes what there is)\n",
               missing.size(), expected.size(), duplicates.size(), unexpected.size());
    return 1;
  }

  // Plan order, so a merge equals an unsharded run row for row.
  std::map<std::string, std::size_t> order;
  for (std::size_t i = 0; i < expected.size(); ++i) order[expected[i]] = i;
  std::stable_sort(rows.begin(), rows.end(), [&](const TextRow& a, const TextRow& b) {
    auto ia = order.find(a.at("key")), ib = order.find(b.at("key"));
    return (ia == order.end() ? SIZE_MAX : ia->second) < (ib == order.end() ? SIZE_MAX : ib->second);
  });
  const std::string csv_path = opt.output + ".csv", json_path = opt.output + ".json";
  if (std::filesystem::exists(csv_path)) std::filesystem::remove(csv_path);
  {
    CsvWriter csv(csv_path, column_names(columns));
    for (const auto& row : rows) csv.write(row_fields(row, columns));
  }
  ordered_json meta = first_meta;
  meta["shard"] = "merged";
  meta["merged_from"] = shards;
  meta["missing_cases"] = missing;
  JsonSink json(json_path, meta, columns);
  for (const auto& row : rows) json.add(row);
  json.write();
  fmt::print("merged {} rows from {} files into {} and {}{}\n", rows.size(), files.size(), csv_path, json_path,
             complete ? "" : fmt::format(" ({} cases missing)", missing.size()));
  return complete ? 0 : 1;
}

}  // namespace fabench

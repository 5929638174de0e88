#pragma once
// The experiment file, checked whole before anything runs. Errors name the JSON path.
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/l2_mode.hpp"
#include "core/problem.hpp"
#include "core/settings.hpp"

namespace fabench {

using ordered_json = nlohmann::ordered_json;

// "experiments[1].dtype[0]: \"bf17\" is not one of fp32, tf32, fp16, bf16"
class ConfigError : public std::runtime_error {
 public:
  ConfigError(const std::string& path, const std::string& what);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct VariantRequest {
  std::string name;
  std::map<std::string, std::vector<std::int64_t>> params;  // each list is an axis of the sweep
  std::string path;  // JSON path, for errors found later
};

// One axis of the cartesian product: a named list of values, each already checked.
struct Axis {
  std::string name;
  std::vector<ordered_json> values;
};

struct Experiment {
  std::string name;
  OpKind op = OpKind::softmax;
  std::vector<VariantRequest> variants;
  std::vector<Axis> axes;                      // in file order; the last varies fastest
  std::vector<std::vector<std::string>> zip;   // groups of axes that advance together
  TimingSettings timing;
  ValidationSettings validation;
  std::string path;  // "experiments[1]"
};

struct Plan {
  std::string name = "sweep";
  std::uint64_t seed = 20261121;
  std::vector<Experiment> experiments;
  ordered_json source;  // the file as given, stored in result metadata
};

class Registry;

// The largest config file load_plan_file reads.
constexpr std::size_t kMaxConfigBytes = std::size_t{16} << 20;

// Parses and checks a whole experiment file. Every problem with it is a ConfigError: syntax (with
// the source name), nesting deeper than kMaxJsonDepth (core/json_depth.hpp), or a JSON path. `registry` supplies variant names and parameters.
Plan parse_plan(const std::string& text, const Registry& registry, const std::string& source_name);
Plan load_plan_file(const std::string& path, const Registry& registry);

// Applies one axis value of p.op's to a problem; returns an error text when the value is not valid for it.
std::string apply_axis(const std::string& axis, const ordered_json& value, Problem& p);
// The axes an op accepts (its OpSpec's), for messages.
std::vector<std::string> axes_of(OpKind op);

}  // namespace fabench

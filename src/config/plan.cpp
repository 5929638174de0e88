#include "config/plan.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fstream>
#include <limits>
#include <set>

#include "core/json_depth.hpp"
#include "core/variant.hpp"
#include "ops/op_helpers.hpp"
#include "ops/registry.hpp"

namespace fabench {

ConfigError::ConfigError(const std::string& path, const std::string& what)
    : std::runtime_error(path.empty() ? what : path + ": " + what), path_(path) {}

namespace {

// A JSON value with the path that reached it, so every error can say where it is.
struct Node {
  const ordered_json& j;
  std::string path;

  Node key(const std::string& k) const {
    if (!j.is_object() || !j.contains(k)) fail(fmt::format("missing \"{}\"", k));
    return {j.at(k), path.empty() ? k : path + "." + k};
  }
  Node index(std::size_t i) const { return {j.at(i), fmt::format("{}[{}]", path, i)}; }
  [[noreturn]] void fail(const std::string& what) const { throw ConfigError(path, what); }

  void expect_object(const std::vector<std::string>& known) const {
    if (!j.is_object()) fail(fmt::format("expected an object, got {}", describe_json(j)));
    for (const auto& item : j.items())
      if (std::find(known.begin(), known.end(), item.key()) == known.end())
        throw ConfigError(path.empty() ? item.key() : path + "." + item.key(),
                          fmt::format("unknown key (expected one of: {})", fmt::join(known, ", ")));
  }
  std::string string() const {
    if (!j.is_string()) fail(fmt::format("expected a string, got {}", describe_json(j)));
    return j.get<std::string>();
  }
  // Any JSON number that is a whole number in [min, max]: 2^64 - 1, 1e300 and 2.5 are errors,
  // never a cast that wraps or is undefined.
  std::int64_t integer(std::int64_t min, std::int64_t max = std::numeric_limits<std::int64_t>::max()) const {
    std::int64_t v = 0;
    if (j.is_number_unsigned()) {
      const auto u = j.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(max)) fail(fmt::format("{} is above the maximum {}", u, max));
      v = static_cast<std::int64_t>(u);
    } else if (j.is_number_integer()) {
      v = j.get<std::int64_t>();
    } else if (j.is_number_float() && std::isfinite(j.get<double>()) && std::floor(j.get<double>()) == j.get<double>()) {
      const double d = j.get<double>();
      if (d < static_cast<double>(min)) fail(fmt::format("{} is below the minimum {}", describe_json(j), min));
      if (d >= 9223372036854775808.0 || d > static_cast<double>(max))
        fail(fmt::format("{} is above the maximum {}", describe_json(j), max));
      v = static_cast<std::int64_t>(d);
    } else {
      fail(fmt::format("expected an integer, got {}", describe_json(j)));
    }
    if (v < min) fail(fmt::format("{} is below the minimum {}", v, min));
    if (v > max) fail(fmt::format("{} is above the maximum {}", v, max));
    return v;
  }
  double number(double min, double max) const {
    if (!j.is_number()) fail(fmt::format("expected a number, got {}", describe_json(j)));
    double v = j.get<double>();
    if (!(v >= min && v <= max)) fail(fmt::format("{} is outside [{}, {}]", v, min, max));
    return v;
  }
  bool boolean() const {
    if (!j.is_boolean()) fail(fmt::format("expected true or false, got {}", describe_json(j)));
    return j.get<bool>();
  }
  // A scalar or a list of scalars, as a list of nodes.
  std::vector<Node> list() const {
    std::vector<Node> out;
    if (!j.is_array()) {
      out.push_back(*this);
      return out;
    }
    if (j.empty()) fail("expected a non-empty list");
    for (std::size_t i = 0; i < j.size(); ++i) out.push_back(index(i));
    return out;
  }
};

}  // namespace

std::vector<std::string> axes_of(OpKind op) {
  std::vector<std::string> names;
  for (const AxisSpec& axis : op_spec(op).axes) names.push_back(axis.name);
  return names;
}

std::string apply_axis(const std::string& axis, const ordered_json& v, Problem& p) {
  for (const AxisSpec& spec : op_spec(p.op).axes)
    if (spec.name == axis) return spec.apply(v, p);
  return "unknown axis";
}

namespace {

constexpr std::int64_t kMaxInt = std::numeric_limits<int>::max();

void parse_timing(const Node& n, TimingSettings& t) {
  n.expect_object({"warmup", "min_samples", "min_time_s", "max_noise", "max_time_s", "l2", "max_clock_drop"});
  if (n.j.contains("warmup")) t.warmup = static_cast<int>(n.key("warmup").integer(0, kMaxInt));
  if (n.j.contains("min_samples")) t.min_samples = static_cast<int>(n.key("min_samples").integer(1, kMaxInt));
  if (n.j.contains("min_time_s")) t.min_time_s = n.key("min_time_s").number(0, 3600);
  if (n.j.contains("max_noise")) t.max_noise = n.key("max_noise").number(0, 1);
  if (n.j.contains("max_time_s")) t.max_time_s = n.key("max_time_s").number(0.001, 86400);
  if (n.j.contains("max_clock_drop")) t.max_clock_drop = n.key("max_clock_drop").number(0, 1);
  if (n.j.contains("l2")) {
    auto mode = n.key("l2").string();
    auto parsed = parse_l2_mode(mode);
    if (!parsed) n.key("l2").fail(fmt::format("\"{}\" is not one of cold, dirty, hot", mode));
    t.l2 = *parsed;
  }
}

void parse_validation(const Node& n, ValidationSettings& v) {
  n.expect_object({"enabled", "max_rows", "tolerance"});
  if (n.j.contains("enabled")) v.enabled = n.key("enabled").boolean();
  if (n.j.contains("max_rows")) v.max_rows = static_cast<int>(n.key("max_rows").integer(1, kMaxInt));
  if (n.j.contains("tolerance")) {
    Node tol = n.key("tolerance");
    tol.expect_object({"fp32", "tf32", "fp16", "bf16"});
    for (const auto& item : tol.j.items())
      v.tolerance[*parse_dtype(item.key())] = tol.key(item.key()).number(0, 1);
  }
}

VariantRequest parse_variant(const Node& n, OpKind op, const Registry& registry) {
  VariantRequest req;
  req.path = n.path;
  const Node name_node = n.j.is_object() ? (n.expect_object({"name", "params"}), n.key("name")) : n;
  req.name = name_node.string();
  const Variant* v = registry.find(req.name);
  if (!v) {
    std::vector<std::string> names;
    for (const Variant* x : registry.for_op(op)) names.push_back(x->name);
    name_node.fail(fmt::format("unknown variant \"{}\" (variants of {}: {})", req.name, to_string(op),
                               fmt::join(names, ", ")));
  }
  if (v->op != op)
    name_node.fail(fmt::format("variant \"{}\" computes {}, not {}", req.name, to_string(v->op), to_string(op)));
  if (n.j.is_object() && n.j.contains("params")) {
    Node params = n.key("params");
    if (!params.j.is_object()) params.fail("expected an object of parameter lists");
    for (const auto& item : params.j.items()) {
      Node pn = params.key(item.key());
      auto known = std::find_if(v->params.begin(), v->params.end(), [&](auto& tp) { return tp.name == item.key(); });
      if (known == v->params.end()) {
        std::vector<std::string> names;
        for (const auto& tp : v->params) names.push_back(tp.name);
        pn.fail(fmt::format("not a parameter of {} (parameters: {})", req.name,
                            names.empty() ? std::string("none") : fmt::format("{}", fmt::join(names, ", "))));
      }
      // 0 is a value only where the parameter lists it (e.g. "chosen for the case"); else >= 1.
      const bool zero_allowed = std::find(known->allowed.begin(), known->allowed.end(), 0) != known->allowed.end();
      for (const Node& value : pn.list()) req.params[item.key()].push_back(value.integer(zero_allowed ? 0 : 1));
    }
  }
  return req;
}

Experiment parse_experiment(const Node& n, const Plan& plan, const TimingSettings& timing,
                            const ValidationSettings& validation, const Registry& registry) {
  if (!n.j.is_object()) n.fail(fmt::format("expected an object, got {}", describe_json(n.j)));
  Experiment e;
  e.path = n.path;
  e.timing = timing;
  e.validation = validation;
  if (!n.j.contains("op")) n.fail(fmt::format("missing \"op\" (one of {})", op_choices()));
  auto op = parse_op(n.key("op").string());
  if (!op) n.key("op").fail(fmt::format("\"{}\" is not one of {}", n.j.at("op").get<std::string>(), op_choices()));
  e.op = *op;
  std::vector<std::string> known = {"name", "op", "variants", "zip", "timing", "validation", "description"};
  const auto axes = axes_of(e.op);
  known.insert(known.end(), axes.begin(), axes.end());
  n.expect_object(known);
  e.name = n.j.contains("name") ? n.key("name").string() : fmt::format("{}-{}", plan.name, n.path);

  if (!n.j.contains("variants")) n.fail("missing \"variants\" (a list of variant names, or \"all\")");
  Node vars = n.key("variants");
  if (vars.j.is_string() && vars.j.get<std::string>() == "all") {
    for (const Variant* v : registry.for_op(e.op)) e.variants.push_back({v->name, {}, vars.path});
  } else {
    for (const Node& vn : vars.list()) e.variants.push_back(parse_variant(vn, e.op, registry));
  }

  for (const auto& item : n.j.items()) {  // file order: the last axis written varies fastest
    const std::string& axis = item.key();
    if (std::find(axes.begin(), axes.end(), axis) == axes.end()) continue;
    Axis a{axis, {}};
    Problem scratch;
    scratch.op = e.op;
    for (const Node& value : n.key(axis).list()) {
      if (auto err = apply_axis(axis, value.j, scratch); !err.empty()) value.fail(err);
      a.values.push_back(value.j);
    }
    e.axes.push_back(std::move(a));
  }
  auto has = [&](const std::string& a) { return n.j.contains(a); };
  const OpSpec& spec = op_spec(e.op);
  if (auto missing = spec.check_required ? spec.check_required(has) : ""; !missing.empty()) n.fail(missing);

  if (has("zip")) {
    Node zip = n.key("zip");
    if (!zip.j.is_array()) zip.fail("expected a list of axis groups, e.g. [[\"batch\", \"seq_len\"]]");
    std::set<std::string> zipped;
    for (std::size_t g = 0; g < zip.j.size(); ++g) {
      Node group = zip.index(g);
      if (!group.j.is_array() || group.j.size() < 2) group.fail("expected a list of two or more axis names");
      std::vector<std::string> names;
      std::size_t length = 0;
      for (std::size_t i = 0; i < group.j.size(); ++i) {
        Node an = group.index(i);
        std::string name = an.string();
        auto axis = std::find_if(e.axes.begin(), e.axes.end(), [&](const Axis& a) { return a.name == name; });
        if (axis == e.axes.end()) an.fail(fmt::format("\"{}\" is not an axis of this experiment", name));
        if (!zipped.insert(name).second) an.fail(fmt::format("axis \"{}\" is zipped twice", name));
        if (i == 0) length = axis->values.size();
        if (axis->values.size() != length)
          an.fail(fmt::format("axis \"{}\" has {} values, but \"{}\" has {}: zipped axes need equal lengths", name,
                              axis->values.size(), names[0], length));
        names.push_back(name);
      }
      e.zip.push_back(names);
    }
  }
  if (has("timing")) parse_timing(n.key("timing"), e.timing);
  if (has("validation")) parse_validation(n.key("validation"), e.validation);
  return e;
}

}  // namespace

namespace {

// A parser message with bytes outside printable ASCII written as \xNN, so a binary file's error
// is readable text.
std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) out += c >= 0x20 && c < 0x7F ? std::string(1, static_cast<char>(c)) : fmt::format("\\x{:02X}", c);
  return out;
}

}  // namespace

Plan parse_plan(const std::string& text, const Registry& registry, const std::string& source_name) {
  Plan plan;
  if (auto at = json_too_deep(text))
    throw ConfigError("", fmt::format("{}: nested deeper than {} levels at byte {}", source_name, kMaxJsonDepth, *at));
  try {
    plan.source = ordered_json::parse(text);
  } catch (const nlohmann::json::exception& err) {  // parse_error, and out_of_range for a number like 1e400
    throw ConfigError("", fmt::format("{}: not valid JSON: {}", source_name, printable(err.what())));
  }
  Node root{plan.source, ""};
  root.expect_object({"name", "description", "seed", "timing", "validation", "experiments"});
  if (plan.source.contains("name")) plan.name = root.key("name").string();
  if (plan.name.empty() || plan.name.find_first_of("/\\ ") != std::string::npos)
    root.key("name").fail("must be a non-empty name without spaces or slashes (it names the output folder)");
  if (plan.source.contains("seed")) {
    const Node seed = root.key("seed");  // any uint64; integer() alone stops at 2^63 - 1
    plan.seed = seed.j.is_number_unsigned() ? seed.j.get<std::uint64_t>() : static_cast<std::uint64_t>(seed.integer(0));
  }
  TimingSettings timing;
  ValidationSettings validation;
  if (plan.source.contains("timing")) parse_timing(root.key("timing"), timing);
  if (plan.source.contains("validation")) parse_validation(root.key("validation"), validation);
  if (!plan.source.contains("experiments")) root.fail("missing \"experiments\" (a list of experiments)");
  Node exps = root.key("experiments");
  if (!exps.j.is_array() || exps.j.empty()) exps.fail("expected a non-empty list of experiments");
  for (std::size_t i = 0; i < exps.j.size(); ++i)
    plan.experiments.push_back(parse_experiment(exps.index(i), plan, timing, validation, registry));
  return plan;
}

Plan load_plan_file(const std::string& path, const Registry& registry) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw ConfigError("", fmt::format("config file \"{}\" is a directory, not a file", path));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("", fmt::format("cannot read config file \"{}\"", path));
  // Read at most kMaxConfigBytes + 1: a FIFO or /dev/zero given as the config ends here, not in
  // an endless read.
  std::string text;
  char buffer[1 << 16];
  while (text.size() <= kMaxConfigBytes && in.read(buffer, sizeof buffer).gcount() > 0)
    text.append(buffer, static_cast<std::size_t>(in.gcount()));
  if (in.bad()) throw ConfigError("", fmt::format("cannot read config file \"{}\"", path));
  if (text.size() > kMaxConfigBytes)
    throw ConfigError("", fmt::format("config file \"{}\" is larger than {} MiB", path, kMaxConfigBytes >> 20));
  return parse_plan(text, registry, path);
}

}  // namespace fabench

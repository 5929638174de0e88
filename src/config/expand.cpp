#include "config/expand.hpp"

#include <algorithm>
#include <cstdlib>
#include <fmt/format.h>
#include <regex>
#include <set>
#include <stdexcept>

#include "core/checked_size.hpp"
#include "core/variant.hpp"
#include "ops/registry.hpp"

namespace fabench {

namespace {

// An axis of the product after zipping: each step sets one or more named axes.
struct Dimension {
  std::vector<const Axis*> axes;
  std::size_t size() const { return axes.front()->values.size(); }
};

std::vector<Dimension> dimensions(const Experiment& e) {
  std::vector<Dimension> dims;
  std::set<std::string> done;
  for (const Axis& a : e.axes) {
    if (done.count(a.name)) continue;
    Dimension d;
    auto group = std::find_if(e.zip.begin(), e.zip.end(), [&](const auto& g) {
      return std::find(g.begin(), g.end(), a.name) != g.end();
    });
    if (group == e.zip.end()) {
      d.axes.push_back(&a);
    } else {
      for (const auto& name : *group)
        d.axes.push_back(&*std::find_if(e.axes.begin(), e.axes.end(), [&](const Axis& x) { return x.name == name; }));
    }
    for (const Axis* x : d.axes) done.insert(x->name);
    dims.push_back(d);
  }
  return dims;
}

std::vector<Params> param_grid(const VariantRequest& req, const Variant& v) {
  std::vector<Params> grid{Params{}};
  for (const auto& [name, values] : req.params) {
    std::vector<Params> next;
    for (const Params& base : grid)
      for (auto value : values) {
        Params p = base;
        p[name] = value;
        next.push_back(p);
      }
    grid = std::move(next);
  }
  for (Params& p : grid) p = with_defaults(v, p);
  return grid;
}

// The cases an experiment expands to before duplicates are dropped: the product of its dimensions'
// sizes times, summed over its variants, the product of their parameter lists' sizes. Errors past
// kMaxCases, counted with overflow checks (1000 axes of 1000 values stop here), together with the
// `before` cases of the experiments above it.
void check_case_count(const Experiment& e, const std::vector<Dimension>& dims, std::size_t& before) {
  auto too_many = [&]() {
    return ConfigError(e.path, fmt::format("the plan expands to more than {} cases here (the product of the axes' "
                                           "lengths and the variants' parameter lists)", kMaxCases));
  };
  std::size_t shapes = 1;
  for (const Dimension& d : dims)
    if (__builtin_mul_overflow(shapes, d.size(), &shapes) || shapes > kMaxCases) throw too_many();
  std::size_t per_shape = 0;
  for (const VariantRequest& req : e.variants) {
    std::size_t grid = 1;
    for (const auto& [name, values] : req.params)
      if (__builtin_mul_overflow(grid, values.size(), &grid) || grid > kMaxCases) throw too_many();
    if (__builtin_add_overflow(per_shape, grid, &per_shape) || per_shape > kMaxCases) throw too_many();
  }
  std::size_t total = 0;
  if (__builtin_mul_overflow(shapes, per_shape, &total) || total > kMaxCases - before) throw too_many();
  before += total;
}

}  // namespace

std::vector<ExpandedCase> expand_plan(const Plan& plan, const Registry& registry, std::size_t* duplicates) {
  std::vector<ExpandedCase> out;
  std::set<std::string> seen;
  std::size_t dropped = 0, counted = 0;
  for (const Experiment& e : plan.experiments) {
    auto dims = dimensions(e);
    check_case_count(e, dims, counted);
    const OpSpec& op = op_spec(e.op);
    const AxisGiven given = [&e](const std::string& name) {
      return std::any_of(e.axes.begin(), e.axes.end(), [&](const Axis& a) { return a.name == name; });
    };
    std::vector<std::size_t> index(dims.size(), 0);
    bool done = false;
    while (!done) {
      Problem p;
      p.op = e.op;
      p.seed = plan.seed;
      for (std::size_t d = 0; d < dims.size(); ++d)
        for (const Axis* a : dims[d].axes) apply_axis(a->name, a->values[index[d]], p);  // checked while parsing
      try {
        if (op.complete)
          if (auto err = op.complete(p, given); !err.empty()) throw ConfigError(e.path, err);
        // Sizes every tensor with overflow checks: a shape whose element counts would overflow is
        // this experiment's error here, not a wrapped size when the case runs.
        (void)op.tensors(p);
      } catch (const TensorTooLarge& err) {
        throw ConfigError(e.path, fmt::format("{}: {}", p.shape_label(), err.what()));
      }
      for (const VariantRequest& req : e.variants) {
        const Variant& v = *registry.find(req.name);
        for (const Params& params : param_grid(req, v)) {
          ExpandedCase ec{Case{p, v.name, params, e.name}, &e};
          if (!seen.insert(ec.c.key()).second) {
            ++dropped;
            continue;
          }
          out.push_back(std::move(ec));
        }
      }
      // odometer: the last dimension moves fastest
      done = true;
      for (std::size_t d = dims.size(); d-- > 0;) {
        if (++index[d] < dims[d].size()) {
          done = false;
          break;
        }
        index[d] = 0;
      }
    }
  }
  if (duplicates) *duplicates = dropped;
  return out;
}

std::vector<ExpandedCase> filter_cases(std::vector<ExpandedCase> cases, const std::string& regex) {
  if (regex.empty()) return cases;
  std::regex re;
  try {
    re = std::regex(regex);
  } catch (const std::regex_error& err) {
    throw ConfigError("--filter", fmt::format("\"{}\" is not a valid regular expression: {}", regex, err.what()));
  }
  cases.erase(std::remove_if(cases.begin(), cases.end(),
                             [&](const ExpandedCase& c) { return !std::regex_search(c.c.variant, re); }),
              cases.end());
  return cases;
}

Shard parse_shard(const std::string& text) {
  auto slash = text.find('/');
  auto bad = [&](const std::string& why) {
    return std::invalid_argument(fmt::format("--shard \"{}\": {} (expected i/n with 0 <= i < n)", text, why));
  };
  if (slash == std::string::npos) throw bad("no '/'");
  Shard s;
  try {
    std::size_t used = 0;
    s.index = std::stoi(text.substr(0, slash), &used);
    if (used != slash) throw bad("i is not an integer");
    std::string n = text.substr(slash + 1);
    s.count = std::stoi(n, &used);
    if (used != n.size()) throw bad("n is not an integer");
  } catch (const std::logic_error& e) {
    if (dynamic_cast<const std::invalid_argument*>(&e) && std::string(e.what()).rfind("--shard", 0) == 0) throw;
    throw bad("not integers");
  }
  if (s.count < 1) throw bad("n must be at least 1");
  if (s.index < 0 || s.index >= s.count) throw bad("i must be in [0, n)");
  return s;
}

std::optional<Shard> shard_from_slurm_env() {
  const char* id = std::getenv("SLURM_ARRAY_TASK_ID");
  const char* count = std::getenv("SLURM_ARRAY_TASK_COUNT");
  if (!id || !count) return std::nullopt;
  const char* min = std::getenv("SLURM_ARRAY_TASK_MIN");
  int base = min ? std::atoi(min) : 0;
  return parse_shard(fmt::format("{}/{}", std::atoi(id) - base, count));
}

std::vector<ExpandedCase> select_shard(std::vector<ExpandedCase> cases, Shard shard) {
  std::vector<ExpandedCase> out;
  for (std::size_t k = 0; k < cases.size(); ++k)
    if (static_cast<int>(k % static_cast<std::size_t>(shard.count)) == shard.index) out.push_back(std::move(cases[k]));
  return out;
}

}  // namespace fabench

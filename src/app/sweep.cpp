#include "app/sweep.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <csignal>
#include <filesystem>
#include <fmt/format.h>
#include <iostream>
#include <set>

#include "app/metadata.hpp"
#include "ops/registry.hpp"
#include "report/console.hpp"
#include "report/csv.hpp"
#include "report/json_sink.hpp"
#include "run/runner.hpp"

namespace fabench {

extern const char* const kDefaultConfigJson;

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;
void on_stop_signal(int sig) {
  if (g_stop_signal) {  // a second signal: stop now
    std::signal(sig, SIG_DFL);
    std::raise(sig);
  }
  g_stop_signal = sig;
}

// Slurm's --signal=B:USR1@120 and scancel/timeouts send these: finish the case in flight, then stop.
void install_stop_handlers() {
  std::signal(SIGUSR1, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  std::signal(SIGINT, on_stop_signal);
}

// A rough per-case time: sampling at the stopping rule's minimum at the model's ideal speed,
// plus a fixed cost for inputs and validation. Good to a factor of a few; said so when printed.
double estimate_seconds(const ExpandedCase& ec, const Variant& v, const std::optional<Ceilings>& ceilings) {
  const Problem& p = ec.c.problem;
  double tflops = v.backend == Backend::cpu ? 0.002 : 20.0, gbps = v.backend == Backend::cpu ? 5.0 : 1000.0;
  if (ceilings && v.backend == Backend::gpu) {
    const double ceiling = bandwidth_ceiling_gbps(*ceilings, op_spec(p.op));
    gbps = ceiling > 0 ? ceiling : ceilings->copy_gbps;
    if (auto it = ceilings->gemm_tflops.find(p.dtype); it != ceilings->gemm_tflops.end()) tflops = it->second;
  }
  double kernel = std::max(model_flops(p) / (tflops * 1e12), model_bytes(p) / (gbps * 1e9));
  const TimingSettings& t = ec.experiment->timing;
  double sampling = std::min(t.max_time_s, std::max(t.min_time_s, t.min_samples * (kernel + 5e-5)));
  return sampling + (t.warmup + 1) * kernel + 0.05;
}

int dry_run(const std::vector<ExpandedCase>& cases, const Registry& registry, const DeviceInfo& device,
            const std::optional<Ceilings>& ceilings, std::size_t done_already) {
  double total = 0;
  std::size_t skipped = 0;
  for (std::size_t k = 0; k < cases.size(); ++k) {
    const auto& ec = cases[k];
    const Variant& v = *registry.find(ec.c.variant);
    auto why = unsupported_reason(v, ec.c.problem, ec.c.params, device.caps);
    std::string params = params_label(ec.c.params);
    fmt::print("[{}/{}] {} {}{}{}\n", k + 1, cases.size(), v.name, ec.c.problem.shape_label(),
               params.empty() ? "" : " " + params, why ? " -> unsupported: " + *why : "");
    if (why)
      ++skipped;
    else
      total += estimate_seconds(ec, v, ceilings);
  }
  fmt::print("{} cases, {} would be skipped as unsupported{}; estimated time {} (rough: ideal kernel speed{})\n",
             cases.size(), skipped,
             done_already ? fmt::format(", {} already in the output and not shown", done_already) : "",
             format_duration(total), ceilings ? ", calibrated ceilings" : ", nominal ceilings");
  return 0;
}

// Runs this program again with --resume: a sticky CUDA error poisons the context for good, so the
// remaining cases continue in a fresh process that skips every row already written.
[[noreturn]] void restart_with_resume(const std::vector<std::string>& argv) {
  std::vector<std::string> args = restart_arguments(argv);
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  std::cout.flush();
  fmt::print(stderr, "fa-bench: the CUDA context is lost; continuing the remaining cases in a fresh process\n");
  execv("/proc/self/exe", cargs.data());
  fmt::print(stderr, "fa-bench: could not restart ({}); run again with --resume\n", std::strerror(errno));
  std::exit(1);
}

}  // namespace

std::vector<std::string> restart_arguments(const std::vector<std::string>& argv) {
  std::vector<std::string> args;
  for (const auto& a : argv)
    if (a != "--overwrite") args.push_back(a);  // it would move the rows just written aside and start over
  if (std::find(args.begin(), args.end(), "--resume") == args.end()) args.push_back("--resume");
  return args;
}

std::string result_stem(const std::string& plan_name, const std::optional<Shard>& shard) {
  if (!shard || shard->count == 1) return plan_name;
  return fmt::format("{}.shard-{}-of-{}", plan_name, shard->index, shard->count);
}

LoadedCases load_cases(const std::string& config_path, const std::string& filter, const Registry& registry) {
  LoadedCases out;
  out.plan = config_path.empty() ? parse_plan(kDefaultConfigJson, registry, "configs/default.json (built in)")
                                 : load_plan_file(config_path, registry);
  out.cases = filter_cases(expand_plan(out.plan, registry, &out.duplicates), filter);
  return out;
}

int run_sweep(const SweepOptions& opt, const Registry& registry) {
  LoadedCases loaded;
  try {
    loaded = load_cases(opt.config_path, opt.filter, registry);
  } catch (const ConfigError& e) {
    fmt::print(stderr, "fa-bench: config error: {}\n", e.what());
    return 2;
  }
  const Plan& plan = loaded.plan;
  std::vector<ExpandedCase>& cases = loaded.cases;
  const std::size_t duplicates = loaded.duplicates;
  const std::size_t planned = cases.size();
  if (opt.shard) cases = select_shard(std::move(cases), *opt.shard);

  const DeviceInfo device = query_device(opt.device);
  const auto ceilings = device.caps.available ? load_ceilings(calibration_path(), device.caps.name) : std::nullopt;

  const std::string dir = opt.output_dir.empty() ? "results/" + plan.name : opt.output_dir;
  const std::string stem = dir + "/" + result_stem(plan.name, opt.shard);
  const std::string csv_path = stem + ".csv", json_path = stem + ".json";

  const std::vector<Column> columns = plan_columns(plan);
  // What the output already holds: resume continues it, anything else must not lose it.
  std::vector<TextRow> previous;
  if (std::filesystem::exists(csv_path) && std::filesystem::file_size(csv_path) > 0) {
    if (opt.overwrite) {
      for (const auto& path : {csv_path, json_path})
        if (std::filesystem::exists(path)) std::filesystem::rename(path, path + ".bak");
      fmt::print("fa-bench: previous results moved to {}.bak\n", csv_path);
    } else if (!opt.resume && !opt.dry_run) {
      fmt::print(stderr,
                 "fa-bench: {} already holds results: pass --resume to continue it, or --overwrite to start again "
                 "(the old files are kept as .bak)\n",
                 csv_path);
      return 2;
    } else {
      if (truncate_partial_last_line(csv_path))
        fmt::print(stderr, "fa-bench: dropped a half-written last row of {}\n", csv_path);
      try {
        CsvTable t = read_csv(csv_path);
        if (t.header != column_names(columns)) {
          fmt::print(stderr, "fa-bench: {} has other columns than this fa-bench writes (schema {}); cannot resume it\n",
                     csv_path, kSchemaVersion);
          return 2;
        }
        previous = std::move(t.rows);
      } catch (const std::exception& e) {
        fmt::print(stderr, "fa-bench: cannot resume: {}\n", e.what());
        return 2;
      }
    }
  }
  std::set<std::string> done;
  for (const auto& row : previous) done.insert(row.at("key"));
  std::vector<ExpandedCase> todo;
  for (auto& ec : cases)
    if (!done.count(ec.c.key())) todo.push_back(std::move(ec));

  if (duplicates) fmt::print("fa-bench: {} repeated cases dropped (same key as an earlier experiment's)\n", duplicates);
  if (opt.dry_run) return dry_run(todo, registry, device, ceilings, cases.size() - todo.size());

  fmt::print("fa-bench: {} on {}; {} cases{}; writing {}\n", plan.name,
             device.caps.available ? device.caps.name : "no GPU (" + device.caps.unavailable_reason + ")", todo.size(),
             previous.empty() ? "" : fmt::format(" ({} already done)", previous.size()), csv_path);
  if (device.caps.available && !ceilings)
    fmt::print("fa-bench: no calibration for this device: percent-of-peak columns stay empty (run `fa-bench calibrate`)\n");

  CsvWriter csv(csv_path, column_names(columns));
  JsonSink json(json_path, run_metadata(plan, device, ceilings, opt.shard, opt.filter, opt.argv, planned), columns);
  std::vector<TextRow> all_rows = previous;
  for (const auto& row : previous) json.add(row);
  json.write();

  install_stop_handlers();
  Runner runner(registry, device, ceilings);
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t k = 0; k < todo.size(); ++k) {
    Result r = runner.run(todo[k]);
    TextRow row = to_text_row(r);
    csv.write(row_fields(row, columns));
    json.add(row);
    all_rows.push_back(row);
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double eta = elapsed / static_cast<double>(k + 1) * static_cast<double>(todo.size() - k - 1);
    fmt::print("{}\n", progress_line(k + 1, todo.size(), row, eta));
    std::fflush(stdout);
    if (runner.context_lost() && k + 1 < todo.size()) {
      json.write();
      restart_with_resume(opt.argv);
    }
    if (g_stop_signal) {
      fmt::print("fa-bench: stopped by signal {} after {} of {} cases; continue with --resume\n",
                 static_cast<int>(g_stop_signal), k + 1, todo.size());
      break;
    }
  }
  json.write();

  if (opt.format == "markdown")
    fmt::print("{}\n", markdown_pivot(all_rows));
  else
    fmt::print("\n{}", summary_table(all_rows));
  fmt::print("\n{}wrote {} and {}\n", status_summary(all_rows), csv_path, json_path);
  for (const auto& row : all_rows)
    if (auto s = parse_status(row.at("status")); s && is_failure(*s)) return 1;
  return 0;
}

}  // namespace fabench

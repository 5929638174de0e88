// fa-bench: the command line, nothing else. Each subcommand hands over to src/app/.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "app/compare.hpp"
#include "app/list.hpp"
#include "app/merge.hpp"
#include "app/plan_output.hpp"
#include "app/report.hpp"
#include "app/metadata.hpp"
#include "app/sweep.hpp"
#include "run/calibration.hpp"

using namespace fabench;

namespace {

int calibrate(int device_index) {
  DeviceInfo device = query_device(device_index);
  if (!device.caps.available) {
    fmt::print(stderr, "fa-bench calibrate: {}\n", device.caps.unavailable_reason);
    return 2;
  }
  fmt::print("calibrating {} (copy 2 x 1 GiB, streaming read of 4 GiB or 8 x L2 and of 8-512 MiB, cuBLAS GEMM 8192^3 per dtype)...\n",
             device.caps.name);
  Ceilings c = measure_ceilings(device);
  const std::string path = calibration_path();
  save_ceilings(path, c);
  fmt::print("copy (read + write): {:.0f} GB/s\n", c.copy_gbps);
  fmt::print("read (streaming): {:.0f} GB/s ({})\n", c.read_gbps, c.read_kernel);
  for (const auto& [bytes, us] : c.read_floor_us)
    fmt::print("  a read of {} MiB: {:.2f} us cold ({:.2f} us more than at {:.0f} GB/s)\n", bytes >> 20, us,
               us - static_cast<double>(bytes) / c.read_gbps * 1e-3, c.read_gbps);
  for (const auto& [t, v] : c.gemm_tflops) fmt::print("GEMM {}: {:.1f} TFLOP/s\n", to_string(t), v);
  fmt::print("saved to {}\n", path);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Registry registry;
  try {
    register_all_variants(registry);
  } catch (const std::exception& e) {  // a mistake in a FABENCH_USER_KERNELS file, named by the message
    fmt::print(stderr, "fa-bench: {}\n", e.what());
    return 2;
  }

  CLI::App app{"fa-bench: validated, honestly timed softmax and attention kernels"};
  app.set_version_flag("--version", [] { return version_text(); });
  SweepOptions opt;
  for (int i = 0; i < argc; ++i) opt.argv.emplace_back(argv[i]);
  std::string shard_text;
  app.add_option("--config", opt.config_path, "experiment file (default: the built-in default sweep)")
      ->check(CLI::ExistingFile);
  app.add_option("--output", opt.output_dir, "output folder (default: results/<name>/)");
  app.add_option("--filter", opt.filter, "run only variants whose name matches this regular expression");
  app.add_option("--device", opt.device, "CUDA device index")->check(CLI::NonNegativeNumber);
  app.add_flag("--dry-run", opt.dry_run, "print the expanded cases, which would be skipped and why, and a time estimate");
  app.add_option("--shard", shard_text,
                 "run part i of n (i/n, 0-based); defaults to SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT when set");
  app.add_flag("--resume", opt.resume, "skip cases whose rows are already in the output");
  app.add_flag("--overwrite", opt.overwrite, "start the output again (the old files are kept as .bak)");
  app.add_option("--format", opt.format, "console output after the run")->check(CLI::IsMember({"table", "markdown"}));

  auto* list_cmd = app.add_subcommand("list", "list every variant with its dtypes, head dims, parameters and constraints");
  auto* cal_cmd = app.add_subcommand("calibrate", "measure copy and read bandwidth and cuBLAS GEMM rates; store them for %-of-peak");
  int cal_device = 0;
  cal_cmd->add_option("--device", cal_device, "CUDA device index")->check(CLI::NonNegativeNumber);
  MergeOptions merge_opt;
  auto* merge_cmd = app.add_subcommand("merge", "combine shard outputs into one CSV and JSON, checking every case is there once");
  merge_cmd->add_option("inputs", merge_opt.inputs, "shard CSV files, or folders holding them")->required();
  merge_cmd->add_option("-o,--output", merge_opt.output, "output stem: writes STEM.csv and STEM.json")->required();
  merge_cmd->add_flag("--allow-mixed", merge_opt.allow_mixed, "merge outputs of different configs or fa-bench revisions");
  merge_cmd->add_flag("--allow-missing", merge_opt.allow_missing, "write the merge even with missing cases (exit 1)");
  ReportOptions report_opt;
  auto* report_cmd = app.add_subcommand("report", "pivot tables (rows seq_len or rows, columns head_dim or cols) from result CSVs");
  report_cmd->add_option("inputs", report_opt.inputs, "result CSV files")->required()->check(CLI::ExistingFile);
  report_cmd->add_option("--value", report_opt.value, "the column in the cells (time_ms_median, tflops, gbps, ...)");
  report_cmd->add_option("--baseline", report_opt.baseline, "also print each variant's speed ratio against this variant");
  report_cmd->add_option("--where", report_opt.where, "only rows whose COLUMN holds VALUE (COLUMN=VALUE; repeatable)");
  report_cmd->add_option("--seed-format", report_opt.seed_format,
                         "write the rows in a seed's CSV instead: 004-softmax-matmul (softmax_matmul_benchmark.csv) "
                         "or 004-attention (attention_benchmark.csv)");
  report_cmd->add_option("--seed-name", report_opt.seed_names,
                         "VARIANT=NAME: the seed's implementation name for a variant (repeatable)");
  report_cmd->add_option("-o,--output", report_opt.output, "--seed-format: write the CSV here (default: standard output)");
  CompareOptions compare_opt;
  auto* compare_cmd = app.add_subcommand("compare", "the cases of two result files side by side, with noise-aware verdicts");
  compare_cmd->add_option("a", compare_opt.a, "result CSV A (the reference)")->required()->check(CLI::ExistingFile);
  compare_cmd->add_option("b", compare_opt.b, "result CSV B")->required()->check(CLI::ExistingFile);
  compare_cmd->add_flag("--by-problem", compare_opt.by_problem, "join on the shape alone (different variants or peers)");
  compare_cmd->add_option("--min-change", compare_opt.min_change, "smallest relative change that counts (default 0.02)")
      ->check(CLI::Range(0.0, 1.0));
  PlanOutputOptions plan_opt;
  auto* plan_cmd = app.add_subcommand("plan", "the expanded cases as JSON (for scripts/peers.py and other tools)");
  plan_cmd->add_option("--config", plan_opt.config_path, "experiment file (default: the built-in default sweep)")
      ->check(CLI::ExistingFile);
  plan_cmd->add_option("--filter", plan_opt.filter, "only variants whose name matches this regular expression");
  plan_cmd->add_option("-o,--output", plan_opt.output, "write here instead of standard output");
  app.require_subcommand(0, 1);

  // CLI11's own codes for a bad command line (105 for a missing --config file, ...) become 2, the
  // exit code of every bad input; --help and --version stay 0.
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  try {
    if (*list_cmd) {
      fmt::print("{}", describe_variants(registry));
      return 0;
    }
    if (*cal_cmd) return calibrate(cal_device);
    if (*merge_cmd) return run_merge(merge_opt, registry);
    if (*report_cmd) return run_report(report_opt);
    if (*compare_cmd) return run_compare(compare_opt);
    if (*plan_cmd) return run_plan_output(plan_opt, registry);
    if (!shard_text.empty())
      opt.shard = parse_shard(shard_text);
    else
      opt.shard = shard_from_slurm_env();
    return run_sweep(opt, registry);
  } catch (const std::invalid_argument& e) {
    fmt::print(stderr, "fa-bench: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "fa-bench: error: {}\n", e.what());
    return 2;
  }
}

// Bad input, fuzzed (issue 18): malformed configs, generated from every shipped config, must end in
// success or a clean config error (ConfigError in process, exit 2 from the binary), never another
// exception, a crash or a hang. Seeded: FABENCH_FUZZ_SEED=<n> replays a run; a failure prints the
// input's generator, its seed and where it changed the file.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <thread>
#include <typeinfo>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "config/expand.hpp"
#include "config/plan.hpp"
#include "core/json_depth.hpp"
#include "helpers.hpp"
#include "ops/registry.hpp"

using namespace fabench;

namespace {

namespace fs = std::filesystem;
using test::registry;

std::uint64_t fuzz_seed() {
  const char* env = std::getenv("FABENCH_FUZZ_SEED");
  return env ? std::strtoull(env, nullptr, 10) : 18;
}

struct Input {
  std::string what;  // generator, seed and place: enough to rebuild it
  std::string text;
  bool too_deep = false;  // must be refused for its nesting
};

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::pair<std::string, std::string>> shipped_configs() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& e : fs::directory_iterator(std::string(FABENCH_SOURCE_DIR) + "/configs"))
    if (e.path().extension() == ".json") out.emplace_back(e.path().filename().string(), read_file(e.path()));
  std::sort(out.begin(), out.end());
  return out;
}

// Every value's JSON pointer, containers included, root first.
void pointers(const ordered_json& j, const std::string& at, std::vector<std::string>& out) {
  out.push_back(at);
  if (j.is_object())
    for (const auto& item : j.items()) pointers(item.value(), at + "/" + item.key(), out);
  else if (j.is_array())
    for (std::size_t i = 0; i < j.size(); ++i) pointers(j[i], at + "/" + std::to_string(i), out);
}

// What replaces a value: each JSON type, and numbers that are huge, negative, fractional, past
// int32, int64 and uint64, and past double's range (1e400 parses to infinity or fails).
const std::vector<std::string> kSwaps = {
    "null", "true", "false", "0", "-1", "1.5", "-0.0", "2147483647", "2147483648", "4294967296",
    "1e18", "9223372036854775807", "9223372036854775808", "18446744073709551615", "-9223372036854775808",
    "1e300", "-1e300", "1e400", "\"x\"", "\"\"", "[]", "[1, 2]", "[[]]", "{}", "{\"k\": 1}"};

std::string nest(std::size_t levels, const std::string& open, const std::string& close, const std::string& inner) {
  std::string s;
  s.reserve(levels * (open.size() + close.size()) + inner.size());
  for (std::size_t i = 0; i < levels; ++i) s += open;
  s += inner;
  for (std::size_t i = 0; i < levels; ++i) s += close;
  return s;
}

std::vector<Input> generate_inputs(std::uint64_t seed) {
  std::vector<Input> in;
  const auto configs = shipped_configs();
  // Truncation at every length of every shipped config.
  for (const auto& [name, text] : configs)
    for (std::size_t n = 0; n < text.size(); ++n) in.push_back({fmt::format("{} cut to {} bytes", name, n), text.substr(0, n)});
  // Byte flips, deletions and insertions of JSON's structural bytes, seeded per file.
  const std::string structural = "{}[]\",:0-.e\\ \n";
  for (std::size_t f = 0; f < configs.size(); ++f) {
    const auto& [name, text] = configs[f];
    std::mt19937_64 rng(seed * 1000003 + f);
    for (int k = 0; k < 250; ++k) {
      std::string t = text;
      const std::size_t at = rng() % t.size();
      std::string how;
      switch (k % 3) {
        case 0: {
          const auto b = static_cast<char>(rng() % 256);
          t[at] = b;
          how = fmt::format("byte {} set to 0x{:02X}", at, static_cast<unsigned char>(b));
          break;
        }
        case 1:
          t.erase(at, 1);
          how = fmt::format("byte {} deleted", at);
          break;
        default: {
          const char c = structural[rng() % structural.size()];
          t.insert(at, 1, c);
          how = fmt::format("'{}' inserted at byte {}", c == '\n' ? std::string("\\n") : std::string(1, c), at);
        }
      }
      in.push_back({fmt::format("{} (seed {}, flip {}): {}", name, seed, k, how), std::move(t)});
    }
  }
  // Type swaps: every value of every shipped config replaced by each of kSwaps.
  for (const auto& [name, text] : configs) {
    const ordered_json doc = ordered_json::parse(text);
    std::vector<std::string> ptrs;
    pointers(doc, "", ptrs);
    for (const std::string& ptr : ptrs)
      for (const std::string& swap : kSwaps) {
        // Spliced as text (1e400 is not a value nlohmann can hold): the swapped value's dump is
        // replaced by the swap in the document's own dump.
        ordered_json marked = doc;
        marked[ordered_json::json_pointer(ptr)] = "\x01SWAP\x01";
        std::string t = marked.dump();
        t.replace(t.find("\"\\u0001SWAP\\u0001\""), std::string("\"\\u0001SWAP\\u0001\"").size(), swap);
        in.push_back({fmt::format("{}: value at \"{}\" replaced by {}", name, ptr, swap), std::move(t)});
      }
  }
  // Deep nesting: past the limit (1k and 100k levels) and just inside it.
  for (std::size_t levels : {65, 1000, 100000})
    for (const auto& [open, close] : {std::pair<std::string, std::string>{"[", "]"}, {"{\"a\": ", "}"}, {"[{\"a\": ", "}]"}}) {
      in.push_back({fmt::format("{} levels of {}", levels, open), nest(levels, open, close, "1"), true});
      in.push_back({fmt::format("{} levels of {}, never closed", levels, open), nest(levels, open, "", ""), true});
    }
  const std::string small = R"({"experiments": [{"op": "softmax", "variants": "all", "rows": 1, "cols": 1}]})";
  in.push_back({"64 levels as a description (allowed)",
                R"({"description": )" + nest(63, "[", "]", "1") + small.substr(1), false});
  in.push_back({"65 levels as a description", R"({"description": )" + nest(64, "[", "]", "1") + small.substr(1), true});
  in.push_back({"100k brackets inside a string (not nesting)",
                R"({"description": ")" + std::string(100000, '[') + "\", " + small.substr(1), false});
  // Empty, blank, and binary files; a BOM; invalid UTF-8 in a string; NUL bytes.
  in.push_back({"empty file", ""});
  in.push_back({"blank file", " \n\t\r\n"});
  in.push_back({"UTF-8 BOM then a config", "\xEF\xBB\xBF" + small});
  in.push_back({"invalid UTF-8 in a name", R"({"name": "a)" + std::string("\xC3\x28") + "\", " + small.substr(1)});
  in.push_back({"NUL bytes", std::string(64, '\0')});
  for (int k = 0; k < 100; ++k) {
    std::mt19937_64 rng(seed * 7919 + static_cast<std::uint64_t>(k));
    std::string t(static_cast<std::size_t>(1 + rng() % 2048), '\0');
    for (char& c : t) c = static_cast<char>(rng() % 256);
    if (k % 2) t[0] = k % 4 == 1 ? '{' : '[';  // binary after a plausible start
    in.push_back({fmt::format("binary file (seed {}, #{})", seed, k), std::move(t)});
  }
  // Shapes that overflow when their tensors are sized, or that expand to too many cases.
  for (const char* shape :
       {R"("op": "softmax", "rows": 4294967296, "cols": 4294967296)",
        R"("op": "softmax", "rows": 1000000000, "cols": 1000000000)",  // 1e18 elements: fits, an oom row if run
        R"("op": "attention", "batch": 9223372036854775807, "heads": 2, "seq_len": 2, "head_dim": 2)",
        R"("op": "attention", "batch": 1048576, "heads": 1048576, "seq_len": 1048576, "head_dim": 128)",
        R"("op": "softmax_matmul", "batch": 4611686018427387904, "d1": 4, "d2": 4, "d3": 4)",
        R"("op": "decode", "batch": 2000000, "cache_len": 4, "head_dim": 64)",
        R"("op": "decode", "batch": 65536, "heads": 65536, "kv_heads": 65536, "cache_len": 2147483647, "head_dim": 128)",
        R"("op": "decode", "batch": 1024, "kv_heads": 1, "cache_len": 2147483647, "head_dim": 2147483647, "page_size": 16)",
        R"("op": "kv_append", "batch": 1048576, "kv_heads": 9223372036854775807, "cache_len": 8, "head_dim": 64)",
        R"("op": "generate", "heads": 9223372036854775807, "head_dim": 128)",
        R"("op": "generate", "heads": 8, "head_dim": 64, "prompt_len": 9223372036854775807, "steps": 9223372036854775807)",
        R"("op": "generate", "heads": 8, "head_dim": 64, "d_model": 9223372036854775807)",
        R"("op": "softmax", "rows": [1,2,3,4,5,6,7,8,9,10], "cols": [1,2,3,4,5,6,7,8,9,10], "dtype": ["fp32","fp16","bf16","tf32"], "dropout": [0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9], "scale": [1,2,3,4,5,6,7,8,9,10], "mask": ["none","causal","tensor","lengths"])"})
    in.push_back({fmt::format("shape {{{}}}", shape),
                  fmt::format(R"({{"experiments": [{{"variants": "all", {}}}]}})", shape)});
  return in;
}

// In process: parse, expand, and what --dry-run and plan compute per case. "" or what went wrong.
std::string verdict(const Input& input) {
  try {
    const Plan plan = parse_plan(input.text, registry(), "fuzz.json");
    const auto cases = expand_plan(plan, registry());
    for (std::size_t k = 0; k < cases.size() && k < 64; ++k) {
      const Problem& p = cases[k].c.problem;
      (void)cases[k].c.key();
      (void)p.shape_label();
      (void)model_flops(p);
      (void)model_bytes(p);
    }
    if (input.too_deep) return "accepted although nested too deep";
    return {};
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    if (what.empty()) return "a ConfigError without a message";
    if (input.too_deep && what.find("nested deeper than 64 levels at byte") == std::string::npos)
      return "refused, but not for its nesting: " + what;
    if (!input.too_deep && what.find("nested deeper") != std::string::npos) return "refused for nesting: " + what;
    return {};
  } catch (const std::exception& e) {
    return fmt::format("{} escaped: {}", typeid(e).name(), e.what());
  }
}

void write_file(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

struct Exit {
  int code = -1;    // exit status, when it exited
  int signal = 0;   // the signal that ended it
  bool timed_out = false;
  std::string err;  // its stderr
};

// The fa-bench binary with `args`, no GPU visible, killed after `timeout_s`.
Exit run_binary(const std::vector<std::string>& args, const std::string& err_path, double timeout_s = 30) {
  std::vector<std::string> argv = {FABENCH_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargs;
  for (auto& a : argv) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    const int null = open("/dev/null", O_RDWR);
    const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(null, 0);
    dup2(null, 1);
    dup2(err, 2);
    setenv("CUDA_VISIBLE_DEVICES", "", 1);
    execv(cargs[0], cargs.data());
    _exit(127);
  }
  Exit out;
  const auto t0 = std::chrono::steady_clock::now();
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > timeout_s) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      out.timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (!out.timed_out && WIFEXITED(status)) out.code = WEXITSTATUS(status);
  if (!out.timed_out && WIFSIGNALED(status)) out.signal = WTERMSIG(status);
  out.err = read_file(err_path);
  return out;
}

// "" when the run ended with 0, or with 2 and a message; else what happened.
std::string exit_verdict(const Exit& e) {
  if (e.timed_out) return "did not finish (killed after its time limit)";
  if (e.signal) return fmt::format("killed by signal {}", e.signal);
  if (e.code == 0) return {};
  if (e.code != 2) return fmt::format("exit {} (stderr: {})", e.code, e.err.substr(0, 300));
  if (e.err.find_first_not_of(" \n") == std::string::npos) return "exit 2 without a message";
  return {};
}

std::string report(const std::vector<std::string>& failures) {
  std::string s = fmt::format("{} failures (FABENCH_FUZZ_SEED={}); the first:\n", failures.size(), fuzz_seed());
  for (std::size_t i = 0; i < failures.size() && i < 20; ++i) s += "  " + failures[i] + "\n";
  return s;
}

}  // namespace

TEST_CASE("json_too_deep counts brackets outside strings only", "[config][fuzz]") {
  CHECK_FALSE(json_too_deep(nest(64, "[", "]", "")));
  CHECK(json_too_deep(nest(65, "[", "]", "")) == std::size_t{64});
  CHECK(json_too_deep("{\"a\": " + nest(64, "[", "]", "")) == std::size_t{69});
  CHECK_FALSE(json_too_deep("[\"" + std::string(1000, '[') + "\"]"));
  CHECK_FALSE(json_too_deep("[\"\\\"" + std::string(1000, '{') + "\"]"));  // an escaped quote does not end it
  CHECK(json_too_deep("[\"\\\\\"" + std::string(1000, '[')) == std::size_t{68});  // an escaped backslash does
  CHECK_FALSE(json_too_deep(std::string(100000, ']') + "[[]]"));
}

TEST_CASE("a config nested 100,000 deep is a config error that names the file and the byte", "[config][fuzz]") {
  try {
    parse_plan(nest(100000, "[", "]", ""), registry(), "sweep.json");
    FAIL("accepted");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()) == "sweep.json: nested deeper than 64 levels at byte 64");
  }
}

TEST_CASE("overflowing shapes and numbers are config errors with their JSON path", "[config][fuzz]") {
  auto error_of = [](const std::string& experiment, const std::string& top = "") {
    try {
      expand_plan(parse_plan(R"({)" + top + R"("experiments": [{"variants": "all", )" + experiment + "}]}", registry(),
                             "t.json"),
                  registry());
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  CHECK(error_of(R"("op": "softmax", "rows": 4294967296, "cols": 4294967296)") ==
        "experiments[0]: fp32 4294967296x4294967296: x [4294967296 x 4294967296] has more than 2^60 elements (or a "
        "negative extent)");
  CHECK(error_of(R"("op": "attention", "batch": 9223372036854775807, "heads": 2, "seq_len": 2, "head_dim": 2)")
            .rfind("experiments[0]: ", 0) == 0);
  CHECK(error_of(R"("op": "softmax", "rows": 18446744073709551615, "cols": 1)") ==
        "experiments[0].rows: 18446744073709551615 is too large");
  CHECK(error_of(R"("op": "generate", "heads": 8, "head_dim": 64, "prompt_len": 9223372036854775807, "steps": 9223372036854775807)") ==
        "experiments[0]: prompt_len + steps = 9223372036854775807 + 9223372036854775807 does not fit the int32 lengths");
  CHECK(error_of(R"("op": "decode", "batch": 2000000, "cache_len": 4, "head_dim": 64)") ==
        "experiments[0]: batch 2000000 is above 1048576 sequences");
  CHECK(error_of(R"("op": "softmax", "rows": 1, "cols": 1)", R"("timing": {"warmup": 1e300}, )") ==
        "timing.warmup: 1e+300 is above the maximum 2147483647");
  CHECK(error_of(R"("op": "softmax", "rows": 1, "cols": 1)", R"("timing": {"min_samples": 18446744073709551615}, )") ==
        "timing.min_samples: 18446744073709551615 is above the maximum 2147483647");
  CHECK(error_of(R"("op": "softmax", "rows": 1, "cols": 1)", R"("validation": {"max_rows": -1e300}, )") ==
        "validation.max_rows: -1e+300 is below the minimum 1");
  CHECK(error_of(R"("op": "softmax", "rows": 1, "cols": 1)", R"("seed": 18446744073709551615, )") == "(no error)");
  CHECK(error_of(R"("op": "softmax", "rows": 1, "cols": 1)", R"("seed": -1, )") == "seed: -1 is below the minimum 0");
  // 1e18 elements fit the counts: a case that runs out of memory (an oom row), not a config error.
  CHECK(error_of(R"("op": "softmax", "rows": 1000000000, "cols": 1000000000)") == "(no error)");
  std::string many = R"("op": "softmax", "cols": 1, "rows": [)";
  for (int i = 1; i <= 1000; ++i) many += std::to_string(i) + (i < 1000 ? "," : "]");
  many += R"(, "scale": [)";
  for (int i = 1; i <= 1001; ++i) many += std::to_string(i) + (i < 1001 ? "," : "]");
  CHECK(error_of(many).rfind("experiments[0]: the plan expands to more than 1000000 cases", 0) == 0);
}

TEST_CASE("config files that are not files, or not text, are config errors", "[config][fuzz]") {
  const fs::path dir = fs::temp_directory_path() / "fabench-fuzz-files";
  fs::remove_all(dir);
  fs::create_directories(dir);
  CHECK_THROWS_WITH(load_plan_file(dir.string(), registry()), Catch::Contains("is a directory"));
  CHECK_THROWS_AS(load_plan_file((dir / "missing.json").string(), registry()), ConfigError);
  write_file((dir / "big.json").string(), std::string(kMaxConfigBytes + 1, ' '));
  CHECK_THROWS_WITH(load_plan_file((dir / "big.json").string(), registry()), Catch::Contains("larger than 16 MiB"));
  CHECK_THROWS_AS(load_plan_file("/dev/zero", registry()), ConfigError);  // endless: stops at the size limit
  write_file((dir / "binary.json").string(), std::string("\x89PNG\r\n\x1a\n\0\0", 10));
  CHECK_THROWS_WITH(load_plan_file((dir / "binary.json").string(), registry()),
                    Catch::Contains("binary.json: not valid JSON") && Catch::Contains("\\x89"));
  fs::remove_all(dir);
}

TEST_CASE("fuzzed configs: success or a ConfigError, in process", "[config][fuzz]") {
  const std::uint64_t seed = fuzz_seed();
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<Input> inputs = generate_inputs(seed);
  std::vector<std::string> failures;
  std::size_t accepted = 0;
  for (const Input& input : inputs) {
    const std::string v = verdict(input);
    if (!v.empty()) failures.push_back(input.what + ": " + v);
    accepted += v.empty() && !input.too_deep;
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  WARN(fmt::format("{} fuzzed configs (seed {}) in {:.1f} s", inputs.size(), seed, s));
  CHECK(inputs.size() >= 10000);
  INFO(report(failures));
  CHECK(failures.empty());
}

TEST_CASE("fuzzed configs and result files: the binary exits 0 or 2, never crashes or hangs", "[config][fuzz]") {
  const std::uint64_t seed = fuzz_seed();
  const fs::path dir = fs::temp_directory_path() / fmt::format("fabench-fuzz-{}", getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string cfg = (dir / "sweep.json").string(), err = (dir / "stderr.txt").string(),
                    out = (dir / "out").string();
  std::vector<std::string> failures;
  std::size_t runs = 0;
  auto run = [&](const std::string& what, const std::vector<std::string>& args, const std::string& must_say = "") {
    const Exit e = run_binary(args, err);
    ++runs;
    std::string v = exit_verdict(e);
    if (v.empty() && !must_say.empty() && e.err.find(must_say) == std::string::npos)
      v = fmt::format("exit {}, stderr without \"{}\": {}", e.code, must_say, e.err.substr(0, 300));
    if (!v.empty()) failures.push_back(fmt::format("{} (fa-bench {}): {}", what, fmt::join(args, " "), v));
  };

  // A sample of the generated inputs, through --dry-run and plan.
  const std::vector<Input> inputs = generate_inputs(seed);
  std::mt19937_64 rng(seed);
  std::vector<const Input*> sample;
  for (const Input& in : inputs)
    if (in.too_deep || in.what.rfind("shape", 0) == 0 || in.what.find("file") != std::string::npos) sample.push_back(&in);
  while (sample.size() < 160) sample.push_back(&inputs[rng() % inputs.size()]);
  for (std::size_t k = 0; k < sample.size(); ++k) {
    write_file(cfg, sample[k]->text);
    const std::string must = sample[k]->too_deep ? "nested deeper than 64 levels" : "";
    if (k % 2 == 0)
      run(sample[k]->what, {"--dry-run", "--config", cfg, "--output", out}, must);
    else
      run(sample[k]->what, {"plan", "--config", cfg}, must);
  }
  // Not a file, no file, no text.
  run("a directory as the config", {"--dry-run", "--config", dir.string()}, "directory");
  run("a directory as the config", {"plan", "--config", dir.string()}, "directory");
  run("a missing config", {"--dry-run", "--config", (dir / "none.json").string()}, "does not exist");
  run("/dev/null as the config", {"plan", "--config", "/dev/null"}, "not valid JSON");
  run("/dev/zero as the config", {"plan", "--config", "/dev/zero"}, "larger than 16 MiB");
  run("a bad --shard", {"--dry-run", "--shard", "1/0"});
  run("a bad --filter", {"plan", "--filter", "("}, "not a valid regular expression");

  // Hostile result files for --resume, compare, report and merge.
  const std::string small = R"({"name": "t", "experiments": [{"op": "softmax", "variants": "all", "rows": 2, "cols": 2}]})";
  write_file(cfg, small);
  const std::vector<std::pair<std::string, std::string>> csvs = {
      {"empty", ""},
      {"binary", std::string("\x00\xFF\x01\"\n\r\x80", 7)},
      {"an unclosed quote", "\"" + std::string(200000, 'a') + "\n" + std::string(2000, '\n')},
      {"a header only", "key,status,time_ms_median\n"},
      {"ragged rows", "key,status\nx,ok,extra\n"},
      {"rows without a key", "a,b\n1,2\n"},
      {"non-numbers", "key,status,variant,time_ms_median,time_ms_std,samples\nk,ok,v,abc,nan,-5\n"},
      {"huge numbers", "key,status,variant,time_ms_median,time_ms_std,samples\nk,ok,v,1e999,1e999,1e999\n"}};
  const std::vector<std::pair<std::string, std::string>> jsons = {
      {"nested 100k deep", nest(100000, "[", "]", "")},
      {"an array", "[1, 2]"},
      {"metadata not an object", R"({"metadata": 5, "rows": []})"},
      {"config not a config", R"({"metadata": {"config": [1]}, "rows": []})"},
      {"config nested 100k deep", R"({"metadata": {"config": )" + nest(100000, "{\"a\": ", "}", "1") + R"(}, "rows": []})"},
      {"binary", std::string("\x7B\x00\xFE", 3)}};
  for (const auto& [what, text] : csvs) {
    fs::remove_all(out);
    fs::create_directories(out);
    write_file(out + "/t.csv", text);
    run("--resume over a CSV of " + what, {"--dry-run", "--resume", "--config", cfg, "--output", out});
    const std::string a = (dir / "a.csv").string();
    write_file(a, text);
    run("compare with a CSV of " + what, {"compare", a, a});
    run("compare --by-problem with a CSV of " + what, {"compare", "--by-problem", a, a});
    run("report of a CSV of " + what, {"report", a});
    fs::create_directories(dir / "merge");
    write_file((dir / "merge/t.csv").string(), text);
    write_file((dir / "merge/t.json").string(), R"({"metadata": {"config": )" + small + R"(}, "rows": []})");
    run("merge of a CSV of " + what, {"merge", (dir / "merge").string(), "-o", (dir / "merged").string()});
  }
  for (const auto& [what, text] : jsons) {
    fs::remove_all(dir / "merge");
    fs::create_directories(dir / "merge");
    write_file((dir / "merge/t.csv").string(), "key,status\n");
    write_file((dir / "merge/t.json").string(), text);
    run("merge with a result JSON of " + what, {"merge", (dir / "merge").string(), "-o", (dir / "merged").string()},
        what.find("nested") != std::string::npos ? "nested deeper than 64 levels" : "");
  }
  fs::remove_all(dir);
  WARN(fmt::format("{} runs of fa-bench (seed {})", runs, seed));
  CHECK(runs >= 200);
  INFO(report(failures));
  CHECK(failures.empty());
}

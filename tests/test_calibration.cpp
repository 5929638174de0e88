// The calibration file: ceilings round-trip, and a file from before the read ceiling still loads.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "run/calibration.hpp"

using namespace fabench;

namespace {

// A fresh folder under the system's temporary one, removed again by the caller.
std::string scratch_dir(const char* name) {
  const auto dir = std::filesystem::temp_directory_path() / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

}  // namespace

TEST_CASE("a calibration file without read_gbps loads, with the read ceiling 0", "[calibration]") {
  const std::string dir = scratch_dir("fabench_test_calibration_old");
  const std::string path = dir + "/calibration.json";
  std::ofstream(path) << R"({"NVIDIA H200": {"copy_gbps": 4262.5, "gemm_tflops": {"bf16": 693.0},
                             "measured_at": "2026-11-01T00:00:00Z"}})";
  const auto c = load_ceilings(path, "NVIDIA H200");
  REQUIRE(c);
  CHECK(c->copy_gbps == 4262.5);
  CHECK(c->read_gbps == 0);
  CHECK(c->gemm_tflops.at(DType::bf16) == 693.0);
  CHECK_FALSE(load_ceilings(path, "NVIDIA H100 80GB HBM3"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("ceilings with the read ceiling round-trip and keep other devices' entries", "[calibration]") {
  const std::string dir = scratch_dir("fabench_test_calibration_round_trip");
  const std::string path = dir + "/sub/calibration.json";  // the folder is created on save
  Ceilings h100;
  h100.device = "NVIDIA H100 80GB HBM3";
  h100.copy_gbps = 3013;
  save_ceilings(path, h100);
  Ceilings h200;
  h200.device = "NVIDIA H200";
  h200.copy_gbps = 4262.5;
  h200.read_gbps = 4571.25;
  h200.read_floor_us = {{std::size_t{8} << 20, 6.25}, {std::size_t{32} << 20, 11.5}};
  h200.gemm_tflops = {{DType::fp32, 51.5}, {DType::bf16, 693.0}};
  h200.measured_at = "2026-12-01T12:00:00Z";
  save_ceilings(path, h200);
  const auto back = load_ceilings(path, "NVIDIA H200");
  REQUIRE(back);
  CHECK(back->copy_gbps == h200.copy_gbps);
  CHECK(back->read_gbps == h200.read_gbps);
  CHECK(back->read_floor_us == h200.read_floor_us);
  CHECK(back->gemm_tflops == h200.gemm_tflops);
  CHECK(back->measured_at == h200.measured_at);
  const auto other = load_ceilings(path, "NVIDIA H100 80GB HBM3");
  REQUIRE(other);
  CHECK(other->copy_gbps == 3013);
  CHECK(other->read_gbps == 0);
  CHECK(other->read_floor_us.empty());
  // One encoding for the file and the results' metadata: no read ceiling where none was measured.
  CHECK_FALSE(ceilings_json(h100).contains("read_gbps"));
  CHECK(ceilings_json(h200)["read_floor_us"]["8388608"] == 6.25);
  std::filesystem::remove_all(dir);
}

TEST_CASE("read floor entries that are not a byte count and a time are skipped", "[calibration]") {
  const std::string dir = scratch_dir("fabench_test_calibration_floor");
  const std::string path = dir + "/calibration.json";
  std::ofstream(path) << R"({"NVIDIA H200": {"copy_gbps": 4262.5, "read_gbps": 4600,
                             "read_floor_us": {"8388608": 6.5, "-1": 2, "x": 3, "33554432": "slow",
                                               "99999999999999999999999": 4}}})";
  const auto c = load_ceilings(path, "NVIDIA H200");
  REQUIRE(c);
  CHECK(c->read_floor_us == std::map<std::size_t, double>{{std::size_t{8} << 20, 6.5}});
  std::filesystem::remove_all(dir);
}

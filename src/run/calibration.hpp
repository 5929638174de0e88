#pragma once
// Measured ceilings of a device (`fa-bench calibrate`), stored per device name, used for the
// percent-of-peak columns.
#include <cstddef>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>

#include "core/dtype.hpp"
#include "run/device.hpp"

namespace fabench {

struct Ceilings {
  std::string device;
  double copy_gbps = 0;                     // device-to-device copy, bytes read + written per second
  // Streaming read, bytes read per second: the ceiling of read-mostly ops (decode), above the
  // copy's since no writes share the memory bus. 0 when not measured (a file from before it).
  double read_gbps = 0;
  std::string read_kernel;                  // the read's fastest kernel shape, printed, not saved
  // The streaming read's event time (us, cold L2) at a few sizes from 8 MiB up, by bytes: the floor
  // of any kernel that reads that many bytes once, launch and first requests' latency included,
  // which bytes / read_gbps leaves out (small decode reads are judged against it). Empty when not
  // measured.
  std::map<std::size_t, double> read_floor_us;
  std::map<DType, double> gemm_tflops;      // cuBLAS GEMM per dtype (tf32 = fp32 with TF32 math)
  std::string measured_at;                  // ISO time
};

// $FABENCH_CALIBRATION, else $XDG_CACHE_HOME/fa-bench/calibration.json, else ~/.cache/fa-bench/calibration.json.
std::string calibration_path();
std::optional<Ceilings> load_ceilings(const std::string& path, const std::string& device);
void save_ceilings(const std::string& path, const Ceilings& c);  // keeps other devices' entries
// A device's entry as the calibration file and the results' metadata both hold it (read_gbps left
// out when not measured; load_ceilings reads it back).
nlohmann::ordered_json ceilings_json(const Ceilings& c);

// Runs the copy, read and GEMM measurements on the current device. Throws CudaError / std::runtime_error.
Ceilings measure_ceilings(const DeviceInfo& dev);

}  // namespace fabench

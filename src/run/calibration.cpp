#include "run/calibration.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "config/plan.hpp"
#include "kernels/common/copy.h"
#include "kernels/common/stream_read.h"
#include "run/cublas.hpp"
#include "run/timer.hpp"

namespace fabench {

std::string calibration_path() {
  if (const char* p = std::getenv("FABENCH_CALIBRATION")) return p;
  if (const char* x = std::getenv("XDG_CACHE_HOME")) return std::string(x) + "/fa-bench/calibration.json";
  if (const char* h = std::getenv("HOME")) return std::string(h) + "/.cache/fa-bench/calibration.json";
  return "fa-bench-calibration.json";
}

std::optional<Ceilings> load_ceilings(const std::string& path, const std::string& device) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  nlohmann::json j;
  try {
    in >> j;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
  if (!j.contains(device)) return std::nullopt;
  const auto& e = j.at(device);
  Ceilings c;
  c.device = device;
  c.copy_gbps = e.value("copy_gbps", 0.0);
  c.read_gbps = e.value("read_gbps", 0.0);
  if (e.contains("read_floor_us") && e.at("read_floor_us").is_object())
    for (const auto& item : e.at("read_floor_us").items())
      if (item.value().is_number() && !item.key().empty() &&
          item.key().find_first_not_of("0123456789") == std::string::npos && item.key().size() < 19)
        c.read_floor_us[std::stoull(item.key())] = item.value().get<double>();
  c.measured_at = e.value("measured_at", "");
  if (e.contains("gemm_tflops"))
    for (const auto& item : e.at("gemm_tflops").items())
      if (auto t = parse_dtype(item.key())) c.gemm_tflops[*t] = item.value().get<double>();
  return c;
}

ordered_json ceilings_json(const Ceilings& c) {
  ordered_json e;
  e["copy_gbps"] = c.copy_gbps;
  if (c.read_gbps > 0) e["read_gbps"] = c.read_gbps;
  for (const auto& [bytes, us] : c.read_floor_us) e["read_floor_us"][std::to_string(bytes)] = us;
  for (const auto& [t, v] : c.gemm_tflops) e["gemm_tflops"][std::string(to_string(t))] = v;
  e["measured_at"] = c.measured_at;
  return e;
}

void save_ceilings(const std::string& path, const Ceilings& c) {
  ordered_json j = ordered_json::object();
  {
    std::ifstream in(path);
    if (in) try {
        in >> j;
      } catch (const nlohmann::json::exception&) {
        j = ordered_json::object();
      }
  }
  if (!j.is_object()) j = ordered_json::object();
  j[c.device] = ceilings_json(c);
  std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
  std::ofstream out(path);
  if (!out) throw std::runtime_error(fmt::format("cannot write calibration file \"{}\"", path));
  out << j.dump(2) << "\n";
}

namespace {

double gemm_tflops(DType t, cudaStream_t stream, const TimingSettings& timing) {
  const int n = 8192;
  const ElemType et = storage_type(t);
  const std::size_t bytes = static_cast<std::size_t>(n) * n * elem_size(et);
  DeviceBuffer a(bytes), b(bytes), c(bytes);
  // Random data: a product of zeros runs faster than real data.
  std::vector<unsigned char> host(bytes);
  std::uint64_t state = 12345;
  for (std::size_t i = 0; i < static_cast<std::size_t>(n) * n; ++i) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    store_float(host.data(), et, i, static_cast<float>(static_cast<double>(state >> 40) / (1 << 24) - 0.5));
  }
  cuda_check(cudaMemcpy(a.get(), host.data(), bytes, cudaMemcpyHostToDevice), "upload");
  cuda_check(cudaMemcpy(b.get(), host.data(), bytes, cudaMemcpyHostToDevice), "upload");
  cuda_check(cudaDeviceSynchronize(), "upload");  // pageable copies may still be landing
  cublasHandle_t handle = cublas_handle(stream);
  const cudaDataType_t dt = cublas_data_type(t);
  const cublasComputeType_t ct = cublas_compute_type(t);
  const float alpha = 1.0f, beta = 0.0f;
  auto launch = [&](cudaStream_t) {
    check_cublas(cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, a.get(), dt, n, b.get(), dt, n,
                              &beta, c.get(), dt, n, ct, CUBLAS_GEMM_DEFAULT),
                 "cublasGemmEx");
  };
  TimingStats s = time_on_gpu(launch, stream, nullptr, timing);
  return 2.0 * n * static_cast<double>(n) * n / (s.median_ms * 1e-3) / 1e12;
}

struct ReadCeiling {
  double gbps = 0;
  StreamReadShape shape{0, 0};
  std::size_t bytes = 0;
  std::map<std::size_t, double> floor_us;  // Ceilings::read_floor_us
};

// The read ceiling: the fastest shape of the streaming-read kernel (each by the median of its
// passes, as the copy) over a buffer of 4 GiB or 8 x L2, whichever is larger (so the L2 is a small
// part of it, and so are the launch and the first requests' latency, about 4 us: over 1 GiB they
// cost 2%, and on an H200 cuDNN's decode read 4681 GB/s against a 1 GiB ceiling of 4585; the same
// kernel reads 4636-4675 GB/s over 4 GiB), shrunk to fit the free memory. The
// L2 is flushed clean before each pass (as a cold sample is): a pass that began with the last
// pass's lines in L2, or with dirty lines to write back, would be flattered or penalised.
ReadCeiling measure_read_ceiling(const DeviceInfo& dev, cudaStream_t stream, TimingSettings timing) {
  L2Flusher flusher(dev.l2_bytes);
  timing.l2 = L2Mode::cold;
  std::size_t free_bytes = 0, total_bytes = 0;
  cuda_check(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo");
  const std::size_t wanted = std::max<std::size_t>(std::size_t{4} << 30, 8 * dev.l2_bytes);
  const std::size_t bytes = std::min(wanted, free_bytes / 10 * 8) / 16 * 16;  // leave a fifth for the runtime
  DeviceBuffer data(bytes), checksum(sizeof(unsigned long long));
  cuda_check(cudaMemset(data.get(), 0x3c, bytes), "memset");
  auto time_read = [&](StreamReadShape shape, std::size_t n) {
    return time_on_gpu(
               [&](cudaStream_t st) {
                 cuda_check(stream_read_launch(data.get(), n, static_cast<unsigned long long*>(checksum.get()),
                                               kChecksumNever, shape, dev.caps.sm_count, st),
                            "stream read");
               },
               stream, &flusher, timing)
        .median_ms;
  };
  ReadCeiling best;
  best.bytes = bytes;
  for (StreamReadShape shape : stream_read_shapes()) {
    const double gbps = static_cast<double>(bytes) / (time_read(shape, bytes) * 1e-3) / 1e9;
    if (gbps > best.gbps) {
      best.gbps = gbps;
      best.shape = shape;
    }
  }
  // The floor at small sizes, by the fastest of the shapes at each (a shape with fewer loads in
  // flight may start sooner), each read from the start of the same buffer after a clean flush.
  for (std::size_t n = std::size_t{8} << 20; n <= std::min<std::size_t>(bytes, std::size_t{512} << 20); n *= 4) {
    double fastest = INFINITY;
    for (StreamReadShape shape : stream_read_shapes()) fastest = std::min(fastest, time_read(shape, n));
    best.floor_us[n] = fastest * 1e3;
  }
  return best;
}

}  // namespace

Ceilings measure_ceilings(const DeviceInfo& dev) {
  if (!dev.caps.available) throw std::runtime_error("cannot calibrate: " + dev.caps.unavailable_reason);
  Ceilings c;
  c.device = dev.caps.name;
  CudaStream stream;
  TimingSettings timing;
  timing.min_samples = 20;
  timing.min_time_s = 0.5;
  timing.max_time_s = 20;
  {
    const std::size_t bytes = std::size_t{1} << 30;  // 1 GiB each way: far past any L2
    DeviceBuffer src(bytes), dst(bytes);
    cuda_check(cudaMemset(src.get(), 0x3c, bytes), "memset");
    // The ceiling is the faster of our 16-byte copy kernel and the driver's own copy, so no
    // kernel of ours is flattered by a weak copy.
    TimingStats kernel = time_on_gpu(
        [&](cudaStream_t st) { copy_kernel_launch(src.get(), dst.get(), bytes, dev.caps.sm_count, st); },
        stream.get(), nullptr, timing);
    TimingStats driver = time_on_gpu(
        [&](cudaStream_t st) {
          cuda_check(cudaMemcpyAsync(dst.get(), src.get(), bytes, cudaMemcpyDeviceToDevice, st), "cudaMemcpyAsync");
        },
        stream.get(), nullptr, timing);
    c.copy_gbps = 2.0 * static_cast<double>(bytes) / (std::min(kernel.median_ms, driver.median_ms) * 1e-3) / 1e9;
  }
  const ReadCeiling read = measure_read_ceiling(dev, stream.get(), timing);
  c.read_gbps = read.gbps;
  c.read_floor_us = read.floor_us;
  c.read_kernel = fmt::format("{} loads x {} threads, {}, over {:.2f} GiB", read.shape.loads_in_flight,
                              read.shape.threads, read.shape.blocked ? "a contiguous part a block" : "grid-stride",
                              static_cast<double>(read.bytes) / (1 << 30));
  timing.min_samples = 10;
  timing.min_time_s = 0.2;
  for (DType t : {DType::fp32, DType::tf32, DType::fp16, DType::bf16}) c.gemm_tflops[t] = gemm_tflops(t, stream.get(), timing);
  std::time_t now = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  c.measured_at = buf;
  return c;
}

}  // namespace fabench

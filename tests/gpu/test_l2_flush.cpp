// The streaming read (calibrate's read ceiling, and the read pass of the cold L2 flush) reads
// every 16 bytes exactly once, and the flusher runs in every mode.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <cstdint>
#include <vector>

#include "kernels/common/stream_read.h"
#include "run/device.hpp"
#include "run/timer.hpp"

using namespace fabench;

namespace {

int sm_count() {
  int n = 0;
  cuda_check(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, 0), "SM count");
  return n;
}

std::size_t l2_bytes() {
  int n = 0;
  cuda_check(cudaDeviceGetAttribute(&n, cudaDevAttrL2CacheSize, 0), "L2 size");
  return static_cast<std::size_t>(n);
}

// Seeded 32-bit words (never all zero) and their sum modulo 2^64, as the kernel adds them.
std::vector<std::uint32_t> seeded_words(std::size_t count, std::uint64_t seed) {
  std::vector<std::uint32_t> w(count);
  std::uint64_t state = seed;
  for (auto& x : w) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    x = static_cast<std::uint32_t>(state >> 32);
  }
  return w;
}

unsigned long long host_sum(const std::vector<std::uint32_t>& w) {
  unsigned long long s = 0;
  for (std::uint32_t x : w) s += x;
  return s;
}

unsigned long long device_checksum(const DeviceBuffer& data, std::size_t bytes, ChecksumGate gate,
                                   StreamReadShape shape, unsigned long long start) {
  DeviceBuffer checksum(sizeof(unsigned long long));
  cuda_check(cudaMemcpy(checksum.get(), &start, sizeof start, cudaMemcpyHostToDevice), "checksum start");
  cuda_check(stream_read_launch(data.get(), bytes, static_cast<unsigned long long*>(checksum.get()), gate, shape,
                                sm_count(), nullptr),
             "stream read");
  cuda_check(cudaDeviceSynchronize(), "stream read");
  unsigned long long out = 0;
  cuda_check(cudaMemcpy(&out, checksum.get(), sizeof out, cudaMemcpyDeviceToHost), "checksum");
  return out;
}

}  // namespace

TEST_CASE("the streaming read reads every 16 bytes once, in every compiled shape", "[gpu][l2]") {
  // Sizes below one vector a thread, one short of a full unrolled step, and large with a tail.
  for (std::size_t vectors : {std::size_t{1}, std::size_t{1000}, std::size_t{132 * 2048 * 8 - 1},
                              std::size_t{3} * 1024 * 1024 + 37}) {
    const std::size_t bytes = vectors * 16;
    const auto words = seeded_words(bytes / 4, 1000 + vectors);
    DeviceBuffer data(bytes);
    cuda_check(cudaMemcpy(data.get(), words.data(), bytes, cudaMemcpyHostToDevice), "upload");
    const unsigned long long expected = host_sum(words);
    for (StreamReadShape shape : stream_read_shapes()) {
      INFO(fmt::format("{} vectors, {} loads x {} threads{}", vectors, shape.loads_in_flight, shape.threads,
                       shape.blocked ? ", blocked" : ""));
      CHECK(device_checksum(data, bytes, kChecksumAlways, shape, 0) == expected);
      // The real gate writes nothing (its key is one chance in 2^64 per block).
      CHECK(device_checksum(data, bytes, kChecksumNever, shape, 12345) == 12345);
    }
  }
}

TEST_CASE("a shape that is not compiled, or a size that is not whole vectors, is refused", "[gpu][l2]") {
  DeviceBuffer data(64), checksum(8);
  auto* sum = static_cast<unsigned long long*>(checksum.get());
  CHECK(stream_read_launch(data.get(), 64, sum, kChecksumNever, {3, 256}, sm_count(), nullptr) ==
        cudaErrorInvalidConfiguration);
  CHECK(stream_read_launch(data.get(), 64, sum, kChecksumNever, {4, 256, true}, sm_count(), nullptr) ==
        cudaErrorInvalidConfiguration);
  CHECK(stream_read_launch(data.get(), 60, sum, kChecksumNever, kFlushReadShape, sm_count(), nullptr) ==
        cudaErrorInvalidValue);
}

TEST_CASE("the L2 flusher runs in every mode; the cold read pass covers twice the L2", "[gpu][l2]") {
  L2Flusher flusher(l2_bytes());
  CHECK(flusher.read_pass_bytes() >= 2 * l2_bytes());
  CudaStream stream;
  for (L2Mode mode : {L2Mode::cold, L2Mode::dirty, L2Mode::hot}) {
    INFO(to_string(mode));
    flusher.flush(mode, stream.get());
    CHECK(cudaStreamSynchronize(stream.get()) == cudaSuccess);
  }
}

// Not a check (timings vary by device): the figures behind the cold mode, printed. Run with
// `fabench_gpu_tests "[l2-figures]"`. A read of 32 MB and of 268 MB timed after each flush.
TEST_CASE("read times after a clean and a dirty flush", "[.][l2-figures]") {
  L2Flusher flusher(l2_bytes());
  CudaStream stream;
  DeviceBuffer checksum(sizeof(unsigned long long));
  for (std::size_t mb : {32, 268}) {
    const std::size_t bytes = mb * 1000 * 1000;  // decimal MB, as Nsight Compute reports them
    DeviceBuffer data(bytes);
    cuda_check(cudaMemset(data.get(), 0x3c, bytes), "fill");
    auto read = [&](cudaStream_t s) {
      cuda_check(stream_read_launch(data.get(), bytes, static_cast<unsigned long long*>(checksum.get()),
                                    kChecksumNever, kFlushReadShape, sm_count(), s),
                 "stream read");
    };
    for (L2Mode mode : {L2Mode::cold, L2Mode::dirty, L2Mode::hot}) {
      TimingSettings t;
      t.min_samples = 50;
      t.min_time_s = 0.05;
      t.l2 = mode;
      const TimingStats s = time_on_gpu(read, stream.get(), &flusher, t);
      fmt::print("read {} MB after l2 {:>5}: median {:.2f} us, min {:.2f} us, {:.0f} GB/s ({} samples)\n", mb,
                 to_string(mode), s.median_ms * 1e3, s.min_ms * 1e3, bytes / (s.median_ms * 1e-3) / 1e9, s.samples);
    }
  }
}

#include "run/host_tensors.hpp"

#include <cmath>
#include <cstring>

#include "run/parallel.hpp"

namespace fabench {

namespace {

// splitmix64 (Steele, Lea, Flood 2014): small, fast, and enough for test inputs.
struct SplitMix {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
};

constexpr std::int64_t kChunk = 1 << 16;

void fill_chunk(HostTensor& t, const Problem& p, std::uint64_t tensor_index, std::int64_t chunk) {
  SplitMix rng{p.seed * 0x100000001B3ull + tensor_index * 0x9E3779B9ull + static_cast<std::uint64_t>(chunk) * 7919};
  rng.next();
  const std::int64_t begin = chunk * kChunk;
  const std::int64_t end = std::min<std::int64_t>(begin + kChunk, static_cast<std::int64_t>(t.spec.count));
  switch (t.spec.fill) {
    case Fill::normal:
      for (std::int64_t i = begin; i < end; ++i) {  // Box-Muller; 1 - u keeps log() finite
        double u1 = 1.0 - rng.uniform(), u2 = rng.uniform();
        store_float(t.bytes.data(), t.spec.type, i, static_cast<float>(std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2)));
      }
      break;
    case Fill::uniform_wide:
      for (std::int64_t i = begin; i < end; ++i)
        store_float(t.bytes.data(), t.spec.type, i, static_cast<float>(8.0 * rng.uniform() - 4.0));
      break;
    case Fill::keep_bytes: {
      // Every 7th row fully masked, the others keep about 80% of their columns.
      for (std::int64_t i = begin; i < end; ++i) {
        std::int64_t row = i / p.cols;
        t.bytes[i] = (row % 7 == 3) ? 0 : (rng.uniform() < 0.8 ? 1 : 0);
      }
      break;
    }
    case Fill::row_lengths: {
      auto* out = reinterpret_cast<std::int32_t*>(t.bytes.data());
      for (std::int64_t i = begin; i < end; ++i)
        out[i] = (i % 7 == 3) ? 0 : static_cast<std::int32_t>(rng.next() % static_cast<std::uint64_t>(p.cols + 1));
      break;
    }
    case Fill::none: break;
  }
}

}  // namespace

void HostTensor::decode() {
  if (spec.type != ElemType::f32 && spec.type != ElemType::f16 && spec.type != ElemType::bf16) return;
  values.resize(spec.count);
  if (spec.type == ElemType::f32) {
    std::memcpy(values.data(), bytes.data(), spec.count * 4);
    return;
  }
  for (std::size_t i = 0; i < spec.count; ++i) values[i] = load_float(bytes.data(), spec.type, i);
}

std::vector<HostTensor> make_host_tensors(const Problem& p) {
  std::vector<HostTensor> out;
  auto specs = op_tensors(p);
  for (std::size_t ti = 0; ti < specs.size(); ++ti) {
    HostTensor t;
    t.spec = specs[ti];
    t.bytes.resize(t.size_bytes());
    if (!t.spec.output && t.spec.count > 0) {
      auto chunks = (static_cast<std::int64_t>(t.spec.count) + kChunk - 1) / kChunk;
      parallel_for(chunks, [&](std::int64_t c) { fill_chunk(t, p, ti, c); });
      t.decode();
    }
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace fabench

#include "run/host_tensors.hpp"

#include <cmath>

#include "core/parallel.hpp"
#include "core/seeded_random.hpp"
#include "ops/registry.hpp"

namespace fabench {

namespace {

constexpr std::int64_t kChunk = 1 << 16;
constexpr float kSqrt3 = 1.7320508075688772f;

std::uint64_t tensor_seed(const Problem& p, std::uint64_t tensor_index) {
  return p.seed * 0x100000001B3ull + tensor_index * 0x9E3779B9ull;
}

void fill_chunk(HostTensor& t, const Problem& p, std::uint64_t tensor_index, std::int64_t chunk) {
  SplitMix rng{tensor_seed(p, tensor_index) + static_cast<std::uint64_t>(chunk) * 7919};
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
    case Fill::uniform_unit:
      // Four values per 64-bit draw; (2k + 1) / 65536 - 1 is odd over 65536, so never 0. Chunks
      // start at multiples of 4 (kChunk is), so a chunk's values do not depend on the split.
      for (std::int64_t i = begin; i < end; i += 4) {
        const std::uint64_t r = rng.next();
        for (std::int64_t k = 0; k < 4 && i + k < end; ++k) {
          const float level = static_cast<float>((r >> (16 * k)) & 0xFFFF);
          store_float(t.bytes.data(), t.spec.type, i + k, kSqrt3 * ((2.0f * level + 1.0f) / 65536.0f - 1.0f));
        }
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
    case Fill::custom:   // filled whole by fill_tensor
    case Fill::derived:  // filled by the op's derive_inputs, after the others
    case Fill::none: break;
  }
}

void fill_tensor(HostTensor& t, const Problem& p, std::uint64_t tensor_index) {
  if (t.spec.fill == Fill::custom) {
    t.spec.custom_fill(p, tensor_seed(p, tensor_index), t);
    return;
  }
  auto chunks = (static_cast<std::int64_t>(t.spec.count) + kChunk - 1) / kChunk;
  parallel_for(chunks, [&](std::int64_t c) { fill_chunk(t, p, tensor_index, c); });
}

}  // namespace

std::vector<HostTensor> make_host_tensors(const Problem& p, bool derive_on_device) {
  return make_host_tensors(p, op_tensors(p), derive_on_device);
}

std::vector<HostTensor> make_host_tensors(const Problem& p, const std::vector<TensorSpec>& specs, bool derive_on_device) {
  std::vector<HostTensor> out;
  bool any_derived = false;
  for (std::size_t ti = 0; ti < specs.size(); ++ti) {
    HostTensor t;
    t.spec = specs[ti];
    t.bytes.resize(t.size_bytes());
    const bool derived = t.spec.fill == Fill::derived;
    any_derived = any_derived || (derived && !t.spec.output && t.spec.count > 0);
    if (!t.spec.output && t.spec.count > 0 && !derived) {
      fill_tensor(t, p, ti);
      if (t.spec.host_floats) t.decode();
    }
    out.push_back(std::move(t));
  }
  if (any_derived) {
    op_spec(p.op).derive_inputs(p, out, derive_on_device);
    for (HostTensor& t : out)
      if (t.spec.fill == Fill::derived && !t.spec.output && t.spec.host_floats) t.decode();
  }
  return out;
}

}  // namespace fabench

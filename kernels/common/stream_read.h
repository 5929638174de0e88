#pragma once
// A streaming read of a whole buffer: the read ceiling `fa-bench calibrate` measures, and the read
// pass that leaves the L2 clean before a cold sample (src/run/timer.cpp).
#include <cuda_runtime_api.h>

#include <cstddef>
#include <vector>

namespace fabench {

// How the kernel is launched: `loads_in_flight` independent 16-byte loads per thread per step,
// `threads` per block, as many blocks as fit on every SM at once. `blocked`: each block reads its
// own contiguous part of the buffer from start to end (as a decode split reads its range of the
// cache), instead of all blocks striding over the whole buffer together.
struct StreamReadShape {
  int loads_in_flight;
  int threads;
  bool blocked = false;
};

// The compiled shapes, for calibrate to try (it keeps the fastest).
const std::vector<StreamReadShape>& stream_read_shapes();

// The shape the L2 flush uses: any shape reads everything; this one is among the fastest.
constexpr StreamReadShape kFlushReadShape{8, 512};

// The kernel adds up every 32-bit word it reads (modulo 2^64, so the order of the adds does not
// matter). A block adds its part into *checksum only when (part & mask) == key: a condition that
// depends on every load, so the compiler can neither drop the loads nor prove the write dead,
// yet one that in practice is never true, so a real pass writes nothing.
struct ChecksumGate {
  unsigned long long mask;
  unsigned long long key;
};
constexpr ChecksumGate kChecksumNever{~0ull, 0x9e3779b97f4a7c15ull};  // one chance in 2^64 per block
constexpr ChecksumGate kChecksumAlways{0, 0};                          // test hook: every block adds

// Reads `bytes` (a multiple of 16; `data` 16-byte aligned) once with 16-byte loads. `checksum`
// points at one device unsigned long long. Returns the launch error, if any.
cudaError_t stream_read_launch(const void* data, std::size_t bytes, unsigned long long* checksum, ChecksumGate gate,
                               StreamReadShape shape, int sm_count, cudaStream_t stream);

}  // namespace fabench

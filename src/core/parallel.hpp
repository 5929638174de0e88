#pragma once
// A plain parallel-for over [0, n) on std::threads; deterministic results when each index writes
// only its own output.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace fabench {

inline void parallel_for(std::int64_t n, const std::function<void(std::int64_t)>& body) {
  unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  std::int64_t workers = std::min<std::int64_t>(n, static_cast<std::int64_t>(hw));
  if (workers <= 1) {
    for (std::int64_t i = 0; i < n; ++i) body(i);
    return;
  }
  std::vector<std::thread> pool;
  for (std::int64_t w = 0; w < workers; ++w)
    pool.emplace_back([&, w] {
      for (std::int64_t i = w; i < n; i += workers) body(i);
    });
  for (auto& t : pool) t.join();
}

}  // namespace fabench

#pragma once
// The metadata block of every JSON result file: where, when, with what, from which config.
#include <optional>
#include <string>
#include <vector>

#include "config/expand.hpp"
#include "config/plan.hpp"
#include "run/calibration.hpp"
#include "run/device.hpp"

namespace fabench {

ordered_json device_json(const DeviceInfo& d);
ordered_json run_metadata(const Plan& plan, const DeviceInfo& device, const std::optional<Ceilings>& ceilings,
                          const std::optional<Shard>& shard, const std::string& filter,
                          const std::vector<std::string>& argv, std::size_t planned_cases);
std::string version_text();  // "fa-bench 0.1.0 (git abc123), CUDA runtime 13.0, driver 13.0"

}  // namespace fabench

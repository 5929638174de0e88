#include "app/metadata.hpp"

#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <fmt/format.h>

#include "report/rows.hpp"
#include "version.hpp"

namespace fabench {

namespace {
std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}
std::string now_iso() {
  std::time_t now = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return buf;
}
}  // namespace

std::string version_text() {
  DeviceInfo d = query_device(0);
  return fmt::format("fa-bench {} (git {}), CUDA runtime {}, driver {}", FABENCH_VERSION, FABENCH_GIT_REVISION,
                     cuda_version_text(d.runtime_version),
                     d.driver_version ? cuda_version_text(d.driver_version) : std::string("none"));
}

ordered_json device_json(const DeviceInfo& d) {
  ordered_json j;
  j["available"] = d.caps.available;
  if (!d.caps.available) {
    j["reason"] = d.caps.unavailable_reason;
  } else {
    j["index"] = d.index;
    j["name"] = d.caps.name;
    j["compute_capability"] = fmt::format("{}.{}", d.caps.cc_major, d.caps.cc_minor);
    j["sms"] = d.caps.sm_count;
    j["l2_bytes"] = d.l2_bytes;
    j["memory_bytes"] = d.caps.total_mem;
    j["smem_per_block_optin"] = d.caps.smem_per_block_optin;
    j["sm_clock_mhz"] = d.sm_clock_mhz;
    j["mem_clock_mhz"] = d.mem_clock_mhz;
    j["mem_bus_bits"] = d.mem_bus_bits;
    j["pci_bus_id"] = d.pci_bus_id;
  }
  j["driver_cuda_version"] = d.driver_version ? cuda_version_text(d.driver_version) : "none";
  j["runtime_cuda_version"] = cuda_version_text(d.runtime_version);
  return j;
}

ordered_json run_metadata(const Plan& plan, const DeviceInfo& device, const std::optional<Ceilings>& ceilings,
                          const std::optional<Shard>& shard, const std::string& filter,
                          const std::vector<std::string>& argv, std::size_t planned_cases) {
  ordered_json m;
  m["schema_version"] = kSchemaVersion;
  m["tool"] = {{"name", "fa-bench"}, {"version", FABENCH_VERSION}, {"git_revision", FABENCH_GIT_REVISION}};
  m["started_at"] = now_iso();
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  m["host"] = host;
  m["command"] = argv;
  m["device"] = device_json(device);
  if (ceilings) {
    m["ceilings"] = ceilings_json(*ceilings);  // as the calibration file holds them
  } else {
    m["ceilings"] = nullptr;
  }
  m["slurm"] = {{"job_id", env_or_empty("SLURM_JOB_ID")},
                {"array_job_id", env_or_empty("SLURM_ARRAY_JOB_ID")},
                {"array_task_id", env_or_empty("SLURM_ARRAY_TASK_ID")},
                {"node", env_or_empty("SLURMD_NODENAME")}};
  m["shard"] = shard ? fmt::format("{}/{}", shard->index, shard->count) : "0/1";
  m["filter"] = filter;
  m["planned_cases"] = planned_cases;  // before sharding: what the merged shards must hold
  m["seed"] = plan.seed;
  m["plan_name"] = plan.name;
  m["config"] = plan.source;
  return m;
}

}  // namespace fabench

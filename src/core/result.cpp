#include "core/result.hpp"

namespace fabench {

std::string_view to_string(Status s) {
  switch (s) {
    case Status::ok: return "ok";
    case Status::mismatch: return "mismatch";
    case Status::unsupported: return "unsupported";
    case Status::oom: return "oom";
    case Status::launch_error: return "launch_error";
    case Status::fault: return "fault";
    case Status::timeout: return "timeout";
  }
  return "?";
}

std::optional<Status> parse_status(std::string_view s) {
  for (Status st : {Status::ok, Status::mismatch, Status::unsupported, Status::oom, Status::launch_error,
                    Status::fault, Status::timeout})
    if (to_string(st) == s) return st;
  return std::nullopt;
}

// unsupported, oom and timeout describe the case, not a bug; mismatches and crashes are bugs.
bool is_failure(Status s) { return s == Status::mismatch || s == Status::launch_error || s == Status::fault; }

std::string Case::key() const {
  std::string k = problem.key() + "/" + variant;
  std::string pl = params_label(params);
  if (!pl.empty()) k += "/" + pl;
  return k;
}

}  // namespace fabench

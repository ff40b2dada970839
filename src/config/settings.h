#pragma once
// The configuration the runtime works with, checked across keys (aliases, bindings,
// binders, users). Built once at start-up from a validated Config.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/backoff.h"
#include "config/config.h"

namespace mi::config {

enum class LeaderMode { kStandalone, kActiveStandby, kActiveActive };
std::string_view to_string(LeaderMode mode);

struct BindingSettings {
  std::string name;         // input-3, output-3
  std::string destination;
  std::string binder_name;  // as declared, or the type when a type is named directly
  std::string binder_type;  // e.g. "file"; empty if it could not be resolved
  std::map<std::string, std::string> environment;  // canonical keys below .environment
};

struct WorkflowSettings {
  int id = 0;
  bool enabled = false;
  BindingSettings input;
  BindingSettings output;
};

struct UserSettings {
  std::string name;
  std::string password;
  std::vector<std::string> roles;
  bool is_admin() const;
};

struct Settings {
  LeaderMode mode = LeaderMode::kStandalone;
  BackoffPolicy fail_over;

  std::string server_address;
  int server_port = 8090;
  bool security_enabled = true;
  std::vector<UserSettings> users;

  std::vector<WorkflowSettings> workflows;  // ids 0..19, enabled or not

  Millis shutdown_timeout{30000};
  std::string root_log_level;
  std::map<std::string, std::string> component_log_levels;
};

// `binder_types`: the types in the binder registry of this build.
Settings build_settings(const Config& config, const std::set<std::string>& binder_types,
                        Problems& problems);

}  // namespace mi::config

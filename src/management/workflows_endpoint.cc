#include "management/endpoints.h"

namespace mi::management {

nlohmann::json workflow_json(const workflow::Workflow& w) {
  const auto counters = w.counters();
  nlohmann::json out = {
      {"id", std::to_string(w.id())},
      {"enabled", w.settings().enabled},
      {"state", std::string(workflow::to_string(w.state()))},
      {"inputBindings", nlohmann::json::array({w.settings().input.name})},
      {"outputBindings", nlohmann::json::array({w.settings().output.name})},
      {"messages",
       {{"received", counters.received},
        {"delivered", counters.delivered},
        {"failed", counters.failed},
        {"retried", counters.retried},
        {"deadLettered", counters.dead_lettered},
        {"fenced", counters.fenced},
        {"inFlight", counters.in_flight}}}};
  if (w.reconnecting()) out["connection"] = "reconnecting";
  if (const std::string error = w.last_error(); !error.empty()) out["lastError"] = error;
  return out;
}

nlohmann::json workflows_json(const ManagementContext& context) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& w : context.workflows->all()) list.push_back(workflow_json(*w));
  return {{"workflows", list}};
}

}  // namespace mi::management

#include "management/endpoints.h"

#include <algorithm>

namespace mi::management {

std::string_view to_string(HealthStatus status) {
  switch (status) {
    case HealthStatus::kDown: return "DOWN";
    case HealthStatus::kOutOfService: return "OUT_OF_SERVICE";
    case HealthStatus::kReconnecting: return "RECONNECTING";
    case HealthStatus::kUp: return "UP";
    case HealthStatus::kUnknown: return "UNKNOWN";
  }
  return "UNKNOWN";
}

namespace {

// A workflow is healthy when it is where the instance wants it: an active instance wants
// its enabled workflows running (or paused by an operator, or stopped by one without error).
HealthStatus workflow_health(const workflow::Workflow& w, bool instance_active) {
  using workflow::WorkflowState;
  const WorkflowState state = w.state();
  if (state == WorkflowState::kUnknown) return HealthStatus::kDown;
  if (instance_active && w.settings().enabled && state == WorkflowState::kStopped &&
      !w.last_error().empty()) {
    return HealthStatus::kDown;
  }
  if (state == WorkflowState::kRunning && w.reconnecting()) return HealthStatus::kReconnecting;
  return HealthStatus::kUp;
}

}  // namespace

HealthReport health(const ManagementContext& context) {
  const auto leader = context.leader->status();
  const bool active = leader.state == leader::LeaderState::kActive;

  HealthStatus workflows_status = HealthStatus::kUp;
  nlohmann::json workflow_components = nlohmann::json::object();
  for (const auto& w : context.workflows->all()) {
    const HealthStatus s = workflow_health(*w, active);
    workflows_status = std::min(workflows_status, s);
    nlohmann::json details = {{"state", std::string(workflow::to_string(w->state()))},
                              {"enabled", w->settings().enabled}};
    if (s == HealthStatus::kReconnecting) details["connection"] = "reconnecting";
    if (const std::string error = w->last_error(); !error.empty()) details["error"] = error;
    workflow_components["workflow-" + std::to_string(w->id())] = {
        {"status", std::string(to_string(s))}, {"details", details}};
  }

  HealthStatus leader_status = HealthStatus::kUp;
  nlohmann::json leader_details = {{"mode", std::string(config::to_string(context.leader->mode()))},
                                   {"state", std::string(leader::to_string(leader.state))}};
  if (context.session) {
    const auto s = context.session->status();
    leader_status = s.health == session::SessionHealth::kBound        ? HealthStatus::kUp
                    : s.health == session::SessionHealth::kConnecting ? HealthStatus::kReconnecting
                                                                      : HealthStatus::kDown;
    leader_details["session"] = s.detail;
    leader_details["reconnects"] = s.reconnects;
  }
  HealthReport report;
  report.status = std::min(workflows_status, leader_status);
  report.components = {
      {"leaderElection", {{"status", std::string(to_string(leader_status))}, {"details", leader_details}}},
      {"workflows",
       {{"status", std::string(to_string(workflows_status))}, {"components", workflow_components}}}};
  return report;
}

HealthStatus liveness(const ManagementContext& context) {
  for (const auto& w : context.workflows->all()) {
    if (w->state() == workflow::WorkflowState::kUnknown) return HealthStatus::kDown;
  }
  return HealthStatus::kUp;
}

HealthStatus readiness(const ManagementContext& context) {
  if (context.shutting_down && context.shutting_down()) return HealthStatus::kOutOfService;
  if (context.session && context.session->status().health != session::SessionHealth::kBound) {
    return HealthStatus::kOutOfService;
  }
  return HealthStatus::kUp;
}

}  // namespace mi::management

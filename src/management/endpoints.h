#pragma once
// Content of each actuator endpoint, one file each: leader_election_endpoint.cc,
// health_endpoint.cc, workflows_endpoint.cc, prometheus_endpoint.cc.
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/fencing_gate.h"
#include "config/settings.h"
#include "leader/leader_election.h"
#include "session/management_session.h"
#include "workflow/workflow_manager.h"

namespace mi::management {

struct ManagementContext {
  const config::Settings* settings;
  leader::LeaderElection* leader;
  workflow::WorkflowManager* workflows;
  WallTime started;
  std::string version;
  const session::ManagementSession* session = nullptr;  // active_standby only
  // Asks the active instance to hand over to a standby; false if it is not active.
  std::function<bool()> request_yield;
};

// GET /actuator/leaderelection: exactly the spec's shape.
nlohmann::json leader_election_json(const ManagementContext& context);

// Spring Boot health statuses, most severe first.
enum class HealthStatus { kDown, kOutOfService, kReconnecting, kUp, kUnknown };
std::string_view to_string(HealthStatus status);

struct HealthReport {
  HealthStatus status = HealthStatus::kUnknown;
  nlohmann::json components;  // leaderElection, workflows
};
HealthReport health(const ManagementContext& context);

nlohmann::json workflow_json(const workflow::Workflow& workflow);
nlohmann::json workflows_json(const ManagementContext& context);

// GET /actuator/prometheus in the text exposition format 0.0.4.
std::string prometheus_text(const ManagementContext& context);

}  // namespace mi::management

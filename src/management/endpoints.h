#pragma once
// Content of each actuator endpoint, one file each: leader_election_endpoint.cc,
// health_endpoint.cc, workflows_endpoint.cc, prometheus_endpoint.cc.
#include <functional>
#include <optional>
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
  // True once the instance has begun to stop (readiness turns OUT_OF_SERVICE); empty: never.
  std::function<bool()> shutting_down = nullptr;
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
// Spring Boot's Kubernetes probe groups, /actuator/health/liveness and .../readiness.
// Liveness: DOWN only when a restart is the cure (a workflow that did not stop in time);
// brokers never make it DOWN, or a broker outage would restart every instance. Readiness:
// OUT_OF_SERVICE while stopping, and in active_standby while the management session is not
// bound (such an instance could not take over); a standby that is bound is ready, since it
// does its job by waiting, and a rolling update must be able to proceed past it.
HealthStatus liveness(const ManagementContext& context);
HealthStatus readiness(const ManagementContext& context);

// GET /actuator/loggers (every logger) and /actuator/loggers/{name} (one; nothing if unknown).
nlohmann::json loggers_json();
std::optional<nlohmann::json> logger_json(const std::string& name);

nlohmann::json workflow_json(const workflow::Workflow& workflow);
nlohmann::json workflows_json(const ManagementContext& context);

// GET /actuator/prometheus in the text exposition format 0.0.4.
std::string prometheus_text(const ManagementContext& context);

}  // namespace mi::management

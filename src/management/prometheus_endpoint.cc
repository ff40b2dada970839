#include <sstream>
#include <string_view>

#include <fmt/format.h>

#include "management/endpoints.h"
#include "management/process_stats.h"

namespace mi::management {
namespace {

// Writes metric families in the Prometheus text format: HELP and TYPE once per family,
// then its samples.
class MetricWriter {
 public:
  void family(const std::string& name, const std::string& type, const std::string& help) {
    out_ << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  }
  void sample(const std::string& name, const std::string& labels, double value) {
    out_ << name;
    if (!labels.empty()) out_ << '{' << labels << '}';
    // Shortest text that reads back as the same double (no 6-digit rounding of timestamps).
    out_ << ' ' << fmt::format("{}", value) << '\n';
  }
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
};

std::string label(const std::string& name, const std::string& value) {
  std::string escaped;
  for (char c : value) {
    if (c == '\\' || c == '"') escaped.push_back('\\');
    if (c == '\n') {
      escaped += "\\n";
      continue;
    }
    escaped.push_back(c);
  }
  return name + "=\"" + escaped + "\"";
}

}  // namespace

std::string prometheus_text(const ManagementContext& context) {
  MetricWriter m;
  const auto leader = context.leader->status();
  // In active_standby the management queue names the group of instances, so that alert rules
  // can count the active ones per group (ops/alerts/micro-integration.rules.yml).
  const config::LeaderMode leader_mode = context.leader->mode();
  std::string mode = label("mode", std::string(config::to_string(leader_mode)));
  if (leader_mode == config::LeaderMode::kActiveStandby && context.settings) {
    mode += "," + label("queue", context.settings->management_queue);
  }

  m.family("solace_connector_leader_election_active", "gauge",
           "1 if this instance is active (runs its workflows), 0 if standby.");
  m.sample("solace_connector_leader_election_active", mode,
           leader.state == leader::LeaderState::kActive ? 1 : 0);
  m.family("solace_connector_leader_election_state_changes_total", "counter",
           "Completed changes between active and standby since start.");
  m.sample("solace_connector_leader_election_state_changes_total", mode,
           static_cast<double>(leader.state_changes));
  m.family("solace_connector_leader_election_last_change_timestamp_seconds", "gauge",
           "Unix time of the last completed change of leader state (start time if none).");
  m.sample("solace_connector_leader_election_last_change_timestamp_seconds", mode,
           static_cast<double>(to_epoch_millis(leader.last_change)) / 1000.0);

  m.family("solace_connector_leader_election_epoch", "gauge",
           "Fencing epoch of the current or last active term (0 where there are no terms).");
  m.sample("solace_connector_leader_election_epoch", mode, static_cast<double>(leader.epoch));
  if (context.session) {
    const auto s = context.session->status();
    m.family("solace_connector_management_session_up", "gauge",
             "1 while the management session is bound to its queue, else 0.");
    m.sample("solace_connector_management_session_up", "", s.health == session::SessionHealth::kBound ? 1 : 0);
    m.family("solace_connector_management_session_reconnects_total", "counter",
             "Management session connections after the first one.");
    m.sample("solace_connector_management_session_reconnects_total", "", static_cast<double>(s.reconnects));
  }

  const auto& workflows = context.workflows->all();
  m.family("solace_connector_workflow_state", "gauge",
           "1 for the state each workflow is in (running, stopped, paused, unknown), else 0.");
  for (const auto& w : workflows) {
    const auto state = w->state();
    for (auto s : {workflow::WorkflowState::kRunning, workflow::WorkflowState::kStopped,
                   workflow::WorkflowState::kPaused, workflow::WorkflowState::kUnknown}) {
      m.sample("solace_connector_workflow_state",
               label("workflow_id", std::to_string(w->id())) + "," +
                   label("state", std::string(workflow::to_string(s))),
               state == s ? 1 : 0);
    }
  }
  struct Counter {
    const char* name;
    const char* help;
    unsigned long long workflow::WorkflowCounters::*field;
  };
  const Counter counters[] = {
      {"solace_connector_workflow_messages_received_total", "Messages taken from the input.",
       &workflow::WorkflowCounters::received},
      {"solace_connector_workflow_messages_delivered_total",
       "Messages stored by the output and acknowledged at the input.",
       &workflow::WorkflowCounters::delivered},
      {"solace_connector_workflow_messages_failed_total",
       "Output attempts that failed; the message stayed at the input.",
       &workflow::WorkflowCounters::failed},
      {"solace_connector_workflow_messages_fenced_total",
       "Messages handed back to the input because leadership was not confirmed.",
       &workflow::WorkflowCounters::fenced},
      {"solace_connector_workflow_messages_retried_total",
       "Further attempts on messages the output refused.", &workflow::WorkflowCounters::retried},
      {"solace_connector_workflow_messages_dead_lettered_total",
       "Messages refused max-attempts times and moved to the input's dead-letter destination.",
       &workflow::WorkflowCounters::dead_lettered},
      {"solace_connector_workflow_messages_in_flight",
       "Messages taken from the input and not yet settled.", &workflow::WorkflowCounters::in_flight},
  };
  for (const auto& c : counters) {
    const bool gauge = std::string_view(c.name).ends_with("_in_flight");
    m.family(c.name, gauge ? "gauge" : "counter", c.help);
    for (const auto& w : workflows) {
      m.sample(c.name, label("workflow_id", std::to_string(w->id())),
               static_cast<double>(w->counters().*c.field));
    }
  }

  m.family("solace_connector_workflow_reconnecting", "gauge",
           "1 while the workflow's input or output broker is unreachable and it is reconnecting.");
  for (const auto& w : workflows) {
    m.sample("solace_connector_workflow_reconnecting", label("workflow_id", std::to_string(w->id())),
             w->reconnecting() ? 1 : 0);
  }
  // The Java products' timer solace.connector.process, as a Prometheus histogram.
  m.family("solace_connector_process_seconds", "histogram",
           "From taking a message off the input to acknowledging it after the output stored it.");
  for (const auto& w : workflows) {
    const auto h = w->latency().snapshot();
    const std::string id = label("workflow_id", std::to_string(w->id()));
    for (std::size_t i = 0; i < LatencyHistogram::kBoundsSeconds.size(); ++i) {
      m.sample("solace_connector_process_seconds_bucket",
               id + "," + label("le", fmt::format("{}", LatencyHistogram::kBoundsSeconds[i])),
               static_cast<double>(h.cumulative[i]));
    }
    m.sample("solace_connector_process_seconds_bucket", id + "," + label("le", "+Inf"),
             static_cast<double>(h.count()));
    m.sample("solace_connector_process_seconds_sum", id, h.sum_seconds);
    m.sample("solace_connector_process_seconds_count", id, static_cast<double>(h.count()));
  }

  const ProcessStats p = read_process_stats();
  m.family("process_cpu_seconds_total", "counter", "User and system CPU time spent in seconds.");
  m.sample("process_cpu_seconds_total", "", p.cpu_seconds);
  m.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
  m.sample("process_resident_memory_bytes", "", p.resident_bytes);
  m.family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
  m.sample("process_virtual_memory_bytes", "", p.virtual_bytes);
  m.family("process_open_fds", "gauge", "Number of open file descriptors.");
  m.sample("process_open_fds", "", p.open_fds);
  m.family("process_max_fds", "gauge", "Maximum number of open file descriptors.");
  m.sample("process_max_fds", "", p.max_fds);
  m.family("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.");
  m.sample("process_start_time_seconds", "", static_cast<double>(to_epoch_millis(context.started)) / 1000.0);
  return m.text();
}

}  // namespace mi::management

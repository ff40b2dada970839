#include "management/endpoints.h"

namespace mi::management {

nlohmann::json leader_election_json(const ManagementContext& context) {
  const auto status = context.leader->status();
  nlohmann::json mode = {{"type", std::string(config::to_string(context.leader->mode()))},
                         {"state", std::string(leader::to_string(status.state))}};
  if (context.leader->mode() == config::LeaderMode::kActiveStandby) {
    const auto& session = context.settings->session;
    mode["source"] = {{"queue", context.settings->management_queue},
                      {"host", session.hosts_display()},
                      {"msgVpn", session.msg_vpn}};
  }
  nlohmann::json out = {{"mode", mode}};
  // Beside the spec's fields: the fencing epoch of the current (or last) active term.
  if (status.epoch > 0) {
    out["term"] = {{"epoch", status.epoch}, {"startedAt", to_iso8601(status.term_started)}};
  }
  return out;
}

}  // namespace mi::management

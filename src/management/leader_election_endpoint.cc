#include "management/endpoints.h"

namespace mi::management {

nlohmann::json leader_election_json(const ManagementContext& context) {
  const auto status = context.leader->status();
  nlohmann::json mode = {{"type", std::string(config::to_string(context.leader->mode()))},
                         {"state", std::string(leader::to_string(status.state))}};
  return {{"mode", mode}};
}

}  // namespace mi::management

#include "session/session_timing.h"

#include <unistd.h>

#include <cstdio>
#include <random>

namespace mi::session {

std::string consumer_name() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return "micro-integration@" + std::string(host) + ":" + std::to_string(getpid());
}

std::string random_instance_id() {
  std::random_device rd;
  std::mt19937_64 gen(rd());
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(gen()));
  return buf;
}

TokenLeaseProtocol::Timing protocol_timing(const config::SessionSettings& settings) {
  TokenLeaseProtocol::Timing timing;
  timing.lease = Millis{settings.heartbeat_seconds * 1500};
  timing.rotate_interval = std::min(Millis{settings.heartbeat_seconds * 250}, settings.token_refresh);
  return timing;
}

}  // namespace mi::session

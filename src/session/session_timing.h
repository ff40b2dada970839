#pragma once
// What the AMQP 0-9-1 and 1.0 sessions share: how an instance names itself to the broker and
// in its tokens, and the protocol's timing from the session settings.
#include <string>

#include "config/settings.h"
#include "session/token_lease_protocol.h"

namespace mi::session {

// "micro-integration@<host>:<pid>": shows in the broker's list of the queue's consumers
// which instance holds the management queue.
std::string consumer_name();

// A fresh random id for this process's tokens.
std::string random_instance_id();

// The lease is 1.5 heartbeats (README, "Why never two active"). The token is rotated every
// quarter heartbeat, each rotation a lease probe, and at least every token-refresh interval.
// The standby check and the claim's patience are the protocol's defaults.
TokenLeaseProtocol::Timing protocol_timing(const config::SessionSettings& settings);

}  // namespace mi::session

#pragma once
#include <memory>

#include "common/expected.h"

#include "config/settings.h"
#include "session/management_session.h"

namespace mi::session {

// The session that session.host and .protocol ask for: file:// -> lock file, amqp(s):// ->
// AMQP 0-9-1 (RabbitMQ) or AMQP 1.0.
std::unique_ptr<ManagementSession> make_session(const config::Settings& settings, FencingGate& gate, Clock& clock);

// Declares the management queue as the product expects it (durable quorum queue with
// x-single-active-consumer) on the first reachable host; for --create-management-queue.
// A failure says why (the last host's error).
Status create_management_queue(const config::Settings& settings);

}  // namespace mi::session

#include "session/session_factory.h"

#include "amqp/connection.h"
#include "session/amqp10_session.h"
#include "session/file_lock_session.h"
#include "session/rabbit_session.h"

namespace mi::session {

using amqp::RabbitConnection;
using amqp::RabbitError;

std::unique_ptr<ManagementSession> make_session(const config::Settings& settings, FencingGate& gate, Clock& clock) {
  if (settings.session.is_file()) {
    return std::make_unique<FileLockSession>(
        std::filesystem::path(settings.session.hosts.front().path) / settings.management_queue, gate,
        settings.session.reconnect_wait);
  }
  if (settings.session.protocol == config::SessionProtocol::kAmqp10) {
    return std::make_unique<Amqp10Session>(settings.session, settings.management_queue, gate, clock);
  }
  return std::make_unique<RabbitSession>(settings.session, settings.management_queue, gate, clock);
}

Status create_management_queue(const config::Settings& settings) {
  if (settings.session.is_file()) return Status::ok();  // the lock file is created on first use
  if (settings.session.protocol == config::SessionProtocol::kAmqp10) {
    // AMQP 1.0 has no standard way to declare a queue.
    return Status::failure(
        "AMQP 1.0 cannot declare queues. On RabbitMQ, run this command with "
        "--solace.connector.management.session.protocol=amqp-0-9-1 (the AMQP 1.0 plugin shares the port); on the "
        "vendor's broker, create an exclusive durable queue named '" + settings.management_queue +
        "' in the message VPN (Broker Manager, SEMP or the CLI)");
  }
  std::string last_error = "no management host configured";
  for (const auto& host : settings.session.hosts) {
    try {
      RabbitConnection connection(host, settings.session, Millis{5000});
      connection.declare_queue(settings.management_queue, "quorum", true);
      connection.close_gracefully();
      return Status::ok();
    } catch (const RabbitError& e) {
      last_error = e.what();
    }
  }
  return Status::failure(last_error);
}

}  // namespace mi::session

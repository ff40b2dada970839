#pragma once
// The management session over AMQP 1.0 (Qpid Proton C++): the same TokenLeaseProtocol as
// RabbitSession, carried by a receiver and a sender on the management queue's address. It
// reaches the vendor's broker on a message VPN's AMQP port (an exclusive queue: one bound
// flow consumes at a time), RabbitMQ's AMQP 1.0 plugin (a quorum queue with
// x-single-active-consumer) and other AMQP 1.0 brokers with such a queue.
//
// Differences from AMQP 0-9-1, and why they are safe (README, "AMQP 1.0"):
// - A token is *accepted* (settled) where 0-9-1 acks it; the active instance always holds
//   its newest token unsettled, and the broker hands an unsettled message to the next
//   consumer when this link's connection ends, with first-acquirer = false: a redelivery.
// - The lease ends before the broker may drop a silent connection: it is at most the
//   idle-timeout the broker announces in its Open frame (a peer may close a connection only
//   after that long without a frame), and the token that extends it was received by the
//   broker no earlier than it was sent.
// - AMQP 1.0 cannot count a queue's messages or consumers, so every binding seeds (the
//   active instance drops a seed without a word) and the standby checks of 0-9-1, made for a
//   RabbitMQ channel quirk, do not run.
// - On ActiveMQ Artemis (told by the Open frame's product) the binding first asks the
//   broker's management address what kind of queue the management queue is, and attaches
//   only to an exclusive anycast queue, by its fully qualified name
//   (amqp10/artemis_queue_check.h): a missing one would be auto-created as a multicast
//   address, which hands every instance every token.
// Proton runs one container per connection on the session thread.
#include <string>
#include <thread>

#include "config/settings.h"
#include "session/management_session.h"
#include "session/session_core.h"
#include "session/token_lease_protocol.h"

namespace mi::session {

class Amqp10Session final : public ManagementSession {
 public:
  Amqp10Session(config::SessionSettings settings, std::string queue, FencingGate& gate, Clock& clock);
  ~Amqp10Session() override;

  void start(SessionListener& listener) override;
  void release() override;
  void yield() override;
  SessionStatus status() const override;

 private:
  class Binding;  // one connection's Proton handler (amqp10_session.cc)

  // How one connection ended.
  struct Outcome {
    enum class Kind {
      kConnectFailed,  // no AMQP connection (refused, handshake, SASL, TLS)
      kBindFailed,     // connected, but the queue's links could not be attached
      kReleased,       // shutdown
      kYielded,        // the admin asked to yield
      kLost,           // anything else, after binding
    };
    Kind kind = Kind::kConnectFailed;
    std::string reason;
  };

  void run();
  Outcome connect_and_serve(const config::BrokerAddress& host);

  const config::SessionSettings settings_;
  const std::string queue_;
  const std::string link_name_;  // names this process in the broker's view of the queue's consumers
  SessionCore core_;
  TokenLeaseProtocol protocol_;  // session thread only
  bool warned_no_idle_timeout_ = false;  // session thread only
  std::thread thread_;
};

}  // namespace mi::session

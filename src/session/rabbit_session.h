#pragma once
// The management session on RabbitMQ (standing in for the vendor's broker): a thin driver
// that runs the TokenLeaseProtocol (session/token_lease_protocol.h) over an AMQP 0-9-1
// connection. Every instance consumes from the management queue, a quorum queue with
// x-single-active-consumer=true, so the broker delivers to one consumer only; the protocol
// decides what the token messages mean, the driver publishes, acknowledges, and opens and
// closes the fencing gate as told.
//
// Timing (see README, "Why never two active"): the active instance's lease is extended only
// when its rotated token comes back from the queue, i.e. when the queue's leader, with a
// majority behind it, still delivers to this consumer. The broker promotes another
// consumer only after it dropped this one: its connection closed, 2 heartbeats of silence
// on one node, or this node declared down by the majority on a cluster (no earlier than
// 0.75 x net_ticktime). The lease, 1.5 heartbeats from the sending of the newest token that
// came back, always ends before that.
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "config/settings.h"
#include "session/management_session.h"
#include "session/session_core.h"
#include "session/token_lease_protocol.h"

namespace mi::amqp {
class RabbitConnection;
}  // namespace mi::amqp

namespace mi::session {

class RabbitSession final : public ManagementSession {
 public:
  RabbitSession(config::SessionSettings settings, std::string queue, FencingGate& gate, Clock& clock);
  ~RabbitSession() override;

  void start(SessionListener& listener) override;
  void release() override;
  void yield() override;
  SessionStatus status() const override;

 private:
  void run();
  bool connect_any_host();
  // Checks the queue and starts consuming; false (status says why) if the queue is wrong.
  bool bind_queue();
  // Why serve() returned.
  struct BindingEnd {
    enum class Kind { kReleased, kYielded, kLost };  // released: shutdown; lost: anything else
    Kind kind;
    std::string reason;
  };
  // Runs while bound; returns why the flow (or the binding) ended.
  BindingEnd serve();
  // Carries out what the protocol asked for; returns why the binding ends, if it does.
  std::optional<std::string> apply(const SessionEffects& effects);

  const config::SessionSettings settings_;
  const std::string queue_;
  // Names this process, so `rabbitmqctl list_consumers` (and the management UI) shows which
  // instance holds the management queue.
  const std::string consumer_tag_;
  const Millis lease_;
  SessionCore core_;
  TokenLeaseProtocol protocol_;  // session thread only
  std::unique_ptr<amqp::RabbitConnection> connection_;
  bool warned_not_quorum_ = false;  // session thread only
  std::thread thread_;
};

}  // namespace mi::session

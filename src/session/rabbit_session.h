#pragma once
// The management session on RabbitMQ (standing in for the vendor's broker).
//
// Every instance consumes from the management queue, a queue with
// x-single-active-consumer=true, so the broker delivers to one consumer only. The queue
// holds one *token* message. The consumer that receives it is the active flow: it claims a
// new term by publishing a token with a higher epoch, becomes active when that token comes
// back to it (proof that the broker stored it and still delivers to this consumer), and
// holds the token unacknowledged for as long as it is active. When its connection ends, the
// broker hands the token to the next consumer at once: standbys learn that they became
// active from the broker pushing to them, not by polling.
//
// Timing (see README, "Why never two active"): the broker closes a silent connection no
// earlier than 2 heartbeats after the last byte it received from it, and only then promotes
// another consumer. The active instance confirms its flow with a round trip every quarter
// heartbeat and keeps its fencing gate open until 1.5 heartbeats after it *sent* the last
// confirmed request. So its lease always ends at least half a heartbeat before the broker
// could promote anyone else; when it ends, the gate closes and the workflows stop.
//
// The token is republished every session.token-refresh-interval-in-millis (1 minute), so the
// broker's consumer_timeout (30 minutes for a delivery held unacknowledged) never closes the
// active channel.
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "config/settings.h"
#include "session/management_session.h"

namespace mi::session {

struct Token {
  unsigned long long epoch = 0;
  std::string owner;           // instance id of the publisher
  unsigned long long seq = 0;  // publisher's sequence number
};
std::string format_token(const Token& token);
std::optional<Token> parse_token(const std::string& body);

}  // namespace mi::session

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
  // The lowest epoch a seed token may carry: the wall clock in Unix milliseconds.
  unsigned long long epoch_floor() const;
  // Runs while bound; returns why the flow (or the binding) ended.
  std::string serve();
  void lose_flow(const std::string& reason);
  bool wait_or_stop(Millis duration);  // true if asked to stop
  void set_status(SessionHealth health, const std::string& detail);

  const config::SessionSettings settings_;
  const std::string queue_;
  FencingGate& gate_;
  Clock& clock_;
  const std::string instance_id_;
  const Millis lease_;
  const Millis probe_interval_;
  SessionListener* listener_ = nullptr;
  std::unique_ptr<amqp::RabbitConnection> connection_;
  bool active_ = false;  // session thread only
  unsigned long long seq_ = 0;
  // The highest term epoch this process has seen, across connections: the token (and with
  // it the epoch) is lost if the management queue is deleted, and a new term must still get
  // a higher epoch than every term this process knows of.
  unsigned long long highest_epoch_ = 0;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  SessionStatus status_;
  bool stop_ = false;
  bool yield_ = false;
  std::thread thread_;
};

}  // namespace mi::session

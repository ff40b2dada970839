#pragma once
// The management session's protocol, without any I/O: what an instance does with the token
// messages of a single-active-consumer management queue, and when it may open its fencing
// gate. A driver (RabbitSession for AMQP 0-9-1) feeds it events (bound, delivery, tick,
// queue checked, lost) and carries out the effects it returns (publish, ack, open or extend
// or close the gate, flow active, end the binding). The same protocol can run over any
// transport whose queue delivers to one consumer at a time and only what a majority stored.
//
// The protocol:
// - The queue holds a *token*: "micro-integration leader token epoch=E owner=ID seq=N".
//   The broker delivers it only to the queue's single active consumer.
// - A standby that receives a token claims a new term: it publishes a token with epoch
//   max_seen + 1 and becomes active when that token is delivered back to it.
// - The active instance *rotates* its token every rotate interval (a quarter heartbeat):
//   it publishes a new one and, when that comes back, acknowledges the older ones. A token
//   comes back only if the queue stored it (on a quorum queue: a majority of its nodes) and
//   the queue's leader still delivers to this consumer. Only that extends the lease, to
//   `sent + lease`: a node cut off from the queue's majority, whatever it answers locally,
//   cannot extend it. The instance always holds at least one token unacknowledged, so when
//   its connection ends the broker hands the newest token to the next consumer.
// - When the lease runs out while the binding still stands (the queue could not confirm in
//   time, e.g. during a quorum queue's leader election, or this node is cut off from the
//   majority), the gate closes and the flow is inactive, but the consumer stays: the
//   instance claims a new term and waits (claim_patience) for its token to come back. Only
//   the queue's active consumer gets it back, so an instance that still holds the queue
//   after the election resumes, and one that lost it gives up the binding later.
// - A token of a later term reaching the active instance was not delivered to its
//   publisher, who therefore cannot become active with it; it is acknowledged and ignored.
// - When the broker moved the queue to this consumer while the previous holder may still be
//   alive (a token that was never delivered before: the queue was recreated, or the holder's
//   consumer was dropped without its connection), the previous holder's lease can still run
//   for up to one lease from that delivery. The claim then opens the gate only after that.
//   A *redelivered* token was taken from a consumer the broker dropped (connection closed,
//   node declared down), whose lease is over by the timing argument in the README: the
//   claim opens the gate as soon as it comes back (kill -9 failover in milliseconds).
// - A standby registers its consumer again, on a fresh channel, every standby check while it
//   holds nothing. A quorum queue deleted and declared again at once (RabbitMQ 3.10) keeps
//   the channels' consumers without a cancel, and a channel can then drop every delivery of
//   the new queue while the queue counts them as delivered to its consumer: such a standby
//   would sit on the tokens for ever and nobody would take over. Closing its channel gives
//   them back. Just before, it publishes a *refresh marker*: if its consumer was swallowing
//   messages, the marker is given back right behind them, and whoever receives them knows
//   that their publisher may still hold its lease (its tokens were taken from the silent
//   consumer, not from it), so its claim waits out a lease. A standby that receives a marker
//   is the queue's active consumer with no token in sight: it claims, also after a lease.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"

namespace mi::session {

struct Token {
  unsigned long long epoch = 0;
  std::string owner;           // instance id of the publisher ("seed" for a queue's first token)
  unsigned long long seq = 0;  // publisher's sequence number
};
std::string format_token(const Token& token);
std::optional<Token> parse_token(const std::string& body);
std::string format_refresh_marker(const std::string& owner);
bool is_refresh_marker(const std::string& body);

// What the driver must do. Fencing comes first: end the binding, or else close the gate
// (and report the flow inactive); then publish, ack, open or extend the gate, report the flow
// active, resubscribe, and check the queue.
struct SessionEffects {
  std::optional<std::string> end_binding;        // drop the connection and bind again, for this reason
  bool close_gate = false;
  std::optional<std::string> flow_inactive;      // the flow was active and no longer is, for this reason
  bool lease_expired = false;                    // ... which is that its lease ran out
  std::vector<std::string> publish;              // persistent messages to the management queue
  std::vector<std::uint64_t> ack;                // delivery tags to acknowledge
  std::optional<SteadyTime> open_gate_until;     // open (or extend) the gate until then
  std::optional<unsigned long long> flow_active;  // the flow became active with this epoch
  bool resubscribe = false;                      // register the consumer again on a fresh channel
  bool check_queue = false;                      // count ready messages, then call queue_checked()
  std::vector<std::string> warnings;             // lines for the operator's log
};

class TokenLeaseProtocol {
 public:
  struct Timing {
    Millis lease{1500};          // 1.5 heartbeats
    Millis rotate_interval{250};  // a quarter heartbeat
    Millis standby_check{5000};   // how often a standby looks for an undelivered token and resubscribes
    // How long a claim may wait for its token to come back before the binding is given up.
    // Long enough for a quorum queue to elect a new leader (RabbitMQ 3.10 waits for the old
    // leader's node to be declared down: up to 1.25 x net_ticktime), so that an instance
    // that holds the queue keeps it through the election.
    Millis claim_patience{30000};
  };
  TokenLeaseProtocol(std::string instance_id, Timing timing);

  // The lease of the next bindings: the configured one, or `limit` if that is shorter (the
  // broker's idle-timeout over AMQP 1.0: it may drop a silent consumer that soon). The
  // rotation keeps at most a quarter of the lease. Only while unbound.
  void limit_lease(Millis limit);
  Millis lease() const { return timing_.lease; }

  // The consumer is about to be registered. `ready` and `consumers` are the queue's counts
  // before; `epoch_floor` the lowest epoch a seed token may carry (the wall clock in ms). A
  // transport that cannot count a queue (AMQP 1.0) passes 0, 0: the seed it then publishes
  // while others hold the queue reaches the active instance, which drops it silently, or a
  // claimant, which claims above it.
  SessionEffects bound(SteadyTime now, unsigned ready, unsigned consumers, unsigned long long epoch_floor);
  // `epoch_floor` as for bound(): a claim that no token prompted starts above it.
  SessionEffects delivered(SteadyTime now, std::uint64_t tag, const std::string& body, bool redelivered,
                           unsigned long long epoch_floor);
  SessionEffects tick(SteadyTime now);
  SessionEffects queue_checked(unsigned ready);
  // The binding ended (connection lost, consumer cancelled, released, yielded): the gate
  // closes and, if the flow was active, it is inactive now.
  SessionEffects lost(const std::string& reason);

  // The latest moment the driver must call tick() (it may call it earlier).
  SteadyTime next_tick() const;
  bool active() const { return phase_ == Phase::kActive; }
  unsigned long long epoch() const { return epoch_; }

 private:
  enum class Phase { kUnbound, kStandby, kClaiming, kActive };
  void claim(SteadyTime now, SteadyTime not_before, SessionEffects& out);
  void refresh_marker_delivered(SteadyTime now, std::uint64_t tag, unsigned long long epoch_floor, SessionEffects& out);
  void publish_own(SteadyTime now, SessionEffects& out);
  void end(const std::string& reason, SessionEffects& out);
  // Claiming: becomes active if a claim token came back, recently enough, and the previous
  // holder's lease is surely over.
  void maybe_activate(SteadyTime now, SessionEffects& out);

  const std::string instance_id_;
  const Timing configured_;
  Timing timing_;  // configured_, with limit_lease() applied
  Phase phase_ = Phase::kUnbound;
  unsigned long long seq_ = 0;
  // The highest term epoch seen, across bindings: a recreated queue has lost its token, and a
  // new term must still get a higher epoch than every term this process knows of.
  unsigned long long highest_epoch_ = 0;
  unsigned long long epoch_ = 0;     // the term claimed or held
  SteadyTime gate_not_before_{};     // claiming: the earliest moment the gate may open
  std::optional<SteadyTime> last_confirmed_sent_;  // claiming: when the newest token that came back was sent
  SteadyTime lease_until_{};         // active: the end of the lease
  SteadyTime next_rotate_{};
  SteadyTime next_standby_check_{};
  int undelivered_checks_ = 0;
  std::map<unsigned long long, SteadyTime> in_flight_;  // own tokens published, not yet back: seq -> sent
  std::vector<std::uint64_t> unacked_;                  // delivery tags held, oldest first
};

}  // namespace mi::session

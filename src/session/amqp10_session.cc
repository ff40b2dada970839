#include "session/amqp10_session.h"

#include <proton/binary.hpp>
#include <proton/connection.hpp>
#include <proton/container.hpp>
#include <proton/delivery.hpp>
#include <proton/error_condition.hpp>
#include <proton/message.hpp>
#include <proton/messaging_handler.hpp>
#include <proton/receiver.hpp>
#include <proton/receiver_options.hpp>
#include <proton/sender.hpp>
#include <proton/sender_options.hpp>
#include <proton/source.hpp>
#include <proton/source_options.hpp>
#include <proton/tracker.hpp>
#include <proton/transport.hpp>
#include <proton/work_queue.hpp>

#include <map>

#include "amqp10/artemis_queue_check.h"
#include "amqp10/endpoint.h"
#include "common/logging.h"
#include "session/session_timing.h"

namespace mi::session {
namespace {

constexpr int kCreditWindow = 100;  // a new active sees every token at once
constexpr Millis kMaxPoll{50};      // how soon release() and yield() are noticed
constexpr Millis kCloseGrace{1000};  // a graceful close that takes longer is cut

}  // namespace

// One connection to one host, run by a Proton container on the session thread: opens the
// sender and then the receiver on the management queue, feeds the protocol, ticks it at
// least every kMaxPoll, and ends with an Outcome.
class Amqp10Session::Binding final : public proton::messaging_handler, public SessionCore::Links {
 public:
  Binding(Amqp10Session& session, amqp10::Endpoint endpoint) : session_(session), endpoint_(std::move(endpoint)) {}

  Outcome outcome() const { return outcome_; }
  // The protocol's effects on the links.
  void publish(const std::string& body) override {
    // One data section: the broker stores plain bytes, as a 0-9-1 publisher's token
    // (RabbitMQ hands a 0-9-1 consumer the bytes of a single data section as they are).
    proton::message message;
    message.body(proton::binary(body));
    message.inferred(true);
    message.durable(true);
    sender_.send(message);
  }
  void ack(std::uint64_t tag) override {  // settles it as accepted
    const auto it = deliveries_.find(tag);
    if (it == deliveries_.end()) return;
    it->second.accept();
    deliveries_.erase(it);
  }

  // A protocol step: the shared part (gate, listener, publish, ack) on these links. Its
  // check_queue and resubscribe are not carried out: AMQP 1.0 cannot count a queue, so the
  // standby checks they serve do not run (see the header).
  std::optional<std::string> step(const SessionEffects& effects) { return session_.core_.apply(effects, *this); }

  void on_container_start(proton::container& container) override {
    container_ = &container;
    connection_ = container.connect(endpoint_.url(), amqp10::connection_options(endpoint_));
    handshake_deadline_ = session_.core_.now() + handshake_timeout();
    schedule_tick(Millis{0});  // from the start: release() is noticed while connecting too
  }

  void on_connection_open(proton::connection& connection) override {
    opened_ = true;
    auto log = logger("leader");
    product_ = amqp10::peer_product(connection);
    address_ = amqp10::queue_address(product_, session_.queue_);
    // A peer may close a connection that was silent for its idle-timeout: the lease must
    // end before (README, "AMQP 1.0").
    const Millis broker_idle{connection.idle_timeout()};
    if (broker_idle.count() == 0 && !session_.warned_no_idle_timeout_) {
      session_.warned_no_idle_timeout_ = true;
      log->warn("management session: the broker at {} announces no idle-timeout, so it notices a silent (cut-off) "
                "instance only when TCP does, which can take minutes; the takeover after a silent cut waits that long "
                "(README, \"AMQP 1.0\")",
                endpoint_.url());
    }
    session_.protocol_.limit_lease(broker_idle);
    log->info("management session connected to {} over AMQP 1.0 (product '{}', queue address '{}', lease {} ms)",
              endpoint_.url(), product_, address_, session_.protocol_.lease().count());
    handshake_deadline_ = session_.core_.now() + handshake_timeout();  // now for attaching the links
    if (product_ == amqp10::kArtemisProduct) {
      start_queue_check(connection);
    } else {
      open_token_sender();
    }
  }

  // Artemis: ask what kind of queue it is first (amqp10/artemis_queue_check.h).
  void start_queue_check(proton::connection& connection) {
    queue_check_.emplace(session_.queue_);
    check_replies_ = connection.open_receiver(
        "", proton::receiver_options()
                .name(session_.link_name_ + "/queue-check-replies")
                .source(proton::source_options().dynamic(true)));
    check_requests_ = connection.open_sender(
        amqp10::kArtemisManagementAddress, proton::sender_options().name(session_.link_name_ + "/queue-check"));
  }

  // Sends the check's requests once the reply queue exists and the broker gave credit.
  void send_queue_check() {
    if (check_sent_ || !check_replies_open_ || !check_requests_ || check_requests_.credit() <= 0) return;
    check_sent_ = true;
    for (const auto& request : queue_check_->requests(check_replies_.source().address())) check_requests_.send(request);
  }

  void conclude_queue_check() {
    if (finished_ || !queue_check_ || !queue_check_->done() || check_concluded_) return;
    check_concluded_ = true;
    const auto verdict = queue_check_->verdict();
    if (!verdict.usable) {
      finish(Outcome::Kind::kBindFailed, verdict.detail);
      return;
    }
    address_ = verdict.address;
    logger("leader")->info("management session: {}; binding to '{}'", verdict.detail, address_);
    check_requests_.close();
    check_replies_.close();
    open_token_sender();
  }

  bool is_check_link(const proton::link& link) const {
    return queue_check_ && (link == check_requests_ || link == check_replies_);
  }

  void open_token_sender() {
    sender_ = connection_.open_sender(address_, proton::sender_options().name(session_.link_name_ + "/tokens"));
  }

  void on_sendable(proton::sender& sender) override {
    if (is_check_link(sender)) send_queue_check();
  }

  void on_sender_open(proton::sender& sender) override {
    if (is_check_link(sender)) return;  // its requests go when it has credit (on_sendable)
    // As over 0-9-1: the protocol hears of the binding (and seeds) before the consumer exists.
    bound_called_ = true;
    if (end_if(step(session_.protocol_.bound(session_.core_.now(), 0, 0, session_.core_.epoch_floor()))))
      return;
    receiver_ = connection_.open_receiver(address_, proton::receiver_options()
                                                         .name(session_.link_name_)
                                                         .credit_window(kCreditWindow)
                                                         .auto_accept(false));
  }

  void on_receiver_open(proton::receiver& receiver) override {
    if (finished_) return;
    if (is_check_link(receiver)) {
      check_replies_open_ = true;
      send_queue_check();
      return;
    }
    bound_ = true;
    session_.core_.set_status(SessionHealth::kBound, "bound to management queue '" + session_.queue_ + "'");
    logger("leader")->info(
        "management session bound to queue '{}' (standby until the broker makes this flow active)", session_.queue_);
  }

  void on_message(proton::delivery& delivery, proton::message& message) override {
    if (finished_) return;
    if (is_check_link(delivery.receiver())) {
      queue_check_->reply(message);
      conclude_queue_check();
      return;
    }
    const std::uint64_t tag = ++next_tag_;
    deliveries_.emplace(tag, delivery);
    // "Redelivered" lets a claim open the gate at once, so it must be certain; when it is
    // not, the claim waits out a lease: slower, never unsafe.
    const bool redelivered = amqp10::certainly_redelivered(product_, message);
    if (!first_token_seen_) {
      // Which way this flow's first token came says how a takeover goes on this broker: a
      // certain redelivery opens the gate at once, anything else waits out one lease.
      first_token_seen_ = true;
      logger("leader")->info("management session: first token on this flow: delivery-count {}, first-acquirer {} ({})",
                             message.delivery_count(), message.first_acquirer(),
                             redelivered ? "a certain redelivery: a claim takes over at once"
                                         : "not certainly redelivered: a claim waits one lease");
    }
    const std::string body = amqp10::body_bytes(message).value_or(std::string());
    end_if(step(
        session_.protocol_.delivered(session_.core_.now(), tag, body, redelivered, session_.core_.epoch_floor())));
  }

  void on_tracker_reject(proton::tracker& tracker) override {
    if (check_refused(tracker, "rejected")) return;
    end_if(std::string("the broker rejected a token (is the management queue full, or the user not allowed to send to it?)"));
  }
  void on_tracker_release(proton::tracker& tracker) override {
    if (check_refused(tracker, "released")) return;
    end_if(std::string("the broker released a token instead of storing it (does the management queue exist?)"));
  }

  void on_receiver_error(proton::receiver& receiver) override {
    if (check_link_failed(receiver)) return;
    link_failed(receiver.error(), "receive from");
  }
  void on_sender_error(proton::sender& sender) override {
    if (check_link_failed(sender)) return;
    link_failed(sender.error(), "send to");
  }
  void on_receiver_close(proton::receiver& receiver) override {
    if (is_check_link(receiver)) return;  // closed by conclude_queue_check(), or an error above
    end_if(std::string("the broker detached the management queue's receiver"));
  }
  void on_sender_close(proton::sender& sender) override {
    if (is_check_link(sender)) return;
    end_if(std::string("the broker detached the management queue's sender"));
  }
  void on_session_error(proton::session& session) override {
    // RabbitMQ ends the whole AMQP session when a link names a queue that does not exist.
    if (!bound_) {
      link_failed(session.error(), "receive from");
      return;
    }
    end_if("AMQP session ended by the broker: " + amqp10::describe(session.error()));
  }
  void on_connection_error(proton::connection& connection) override {
    end_if("connection closed by the broker: " + amqp10::describe(connection.error()));
  }
  void on_connection_close(proton::connection&) override {
    if (!finished_) end_if(std::string("connection closed by the broker"));
    if (container_) container_->stop();
  }
  void on_transport_error(proton::transport& transport) override {
    const std::string what =
        amqp10::describe_transport_error(transport.error(), opened_, "client-username and client-password");
    if (!opened_) {
      finish(Outcome::Kind::kConnectFailed, "cannot connect to " + endpoint_.url() + " over AMQP 1.0: " + what);
    } else {
      end_if("connection lost: " + what);
    }
  }
  void on_transport_close(proton::transport&) override {
    if (!finished_) {
      if (!opened_) {
        finish(Outcome::Kind::kConnectFailed, "cannot connect to " + endpoint_.url() + " over AMQP 1.0");
      } else {
        end_if(std::string("connection lost"));
      }
    }
    if (container_) container_->stop();
  }
  void on_error(const proton::error_condition& condition) override {
    end_if("AMQP 1.0 error: " + amqp10::describe(condition));
  }

 private:
  Millis handshake_timeout() const { return std::max(Millis{5000}, session_.protocol_.lease()); }

  void schedule_tick(Millis after) {
    container_->schedule(proton::duration(after.count()), [this] { tick(); });
  }

  void tick() {
    if (finished_) return;
    if (session_.core_.stop_requested()) {
      finish(Outcome::Kind::kReleased, "released");
      return;
    }
    if (session_.core_.take_yield() && session_.core_.active()) {  // a standby has nothing to yield
      finish(Outcome::Kind::kYielded, "yielded");
      return;
    }
    if (!bound_ && session_.core_.now() >= handshake_deadline_) {
      const std::string limit = std::to_string(handshake_timeout().count()) + " ms";
      if (!opened_) {
        finish(Outcome::Kind::kConnectFailed, endpoint_.url() +
                                                  " accepted the connection but did not complete the AMQP 1.0 "
                                                  "handshake within " + limit + " (is it an AMQP 1.0 port?)");
      } else if (queue_check_ && !check_concluded_) {
        finish(Outcome::Kind::kBindFailed, "the broker did not answer the check of management queue '" +
                                               session_.queue_ + "' on its management address " +
                                               amqp10::kArtemisManagementAddress + " within " + limit);
      } else {
        finish(Outcome::Kind::kBindFailed, "the broker did not answer attaching to management queue '" +
                                               session_.queue_ + "' at address '" + address_ + "' within " + limit);
      }
      return;
    }
    if (end_if(step(session_.protocol_.tick(session_.core_.now())))) return;
    const SteadyTime now = session_.core_.now();
    const SteadyTime next = session_.protocol_.next_tick();
    schedule_tick(next <= now ? Millis{0} : std::min(kMaxPoll, std::chrono::ceil<Millis>(next - now)));
  }

  // A request of the queue check came back unsettled as `how`: the broker would not answer it.
  bool check_refused(proton::tracker& tracker, const std::string& how) {
    if (!is_check_link(tracker.sender())) return false;
    queue_check_->refused("a request was " + how + ": " + amqp10::remote_outcome_reason(tracker));
    conclude_queue_check();
    return true;
  }
  bool check_link_failed(const proton::link& link) {
    if (!is_check_link(link)) return false;
    if (check_concluded_) return true;  // the links are done with
    queue_check_->refused("attaching to it failed: " + amqp10::describe(link.error()));
    conclude_queue_check();
    return true;
  }

  void link_failed(const proton::error_condition& condition, const std::string& verb) {
    if (bound_) {
      end_if("the broker closed the management queue's link: " + amqp10::describe(condition));
      return;
    }
    std::string detail = "cannot " + verb + " management queue '" + session_.queue_ + "' at address '" + address_ +
                         "': " + amqp10::describe(condition);
    if (condition.name() == "amqp:not-found") {
      detail += " (create it on the broker: an exclusive queue on the vendor's broker, or on RabbitMQ a quorum queue "
                "with x-single-active-consumer: micro-integration --create-management-queue with "
                "solace.connector.management.session.protocol=amqp-0-9-1, whose port the AMQP 1.0 plugin shares)";
    } else if (condition.name() == "amqp:unauthorized-access") {
      detail += " (user '" + (endpoint_.username.empty() ? std::string("ANONYMOUS") : endpoint_.username) +
                "' may not use it)";
    }
    finish(Outcome::Kind::kBindFailed, detail);
  }

  // Ends the binding if `reason` says so; true if it did (or had).
  bool end_if(const std::optional<std::string>& reason) {
    if (finished_) return true;
    if (!reason) return false;
    finish(bound_ ? Outcome::Kind::kLost : (opened_ ? Outcome::Kind::kBindFailed : Outcome::Kind::kConnectFailed),
           *reason);
    return true;
  }

  // Fences first, then leaves: gracefully (the broker hands the token on at once) on release
  // and yield, by dropping the connection otherwise.
  void finish(Outcome::Kind kind, const std::string& reason) {
    if (finished_) return;
    finished_ = true;
    outcome_ = {kind, reason};
    if (bound_called_) session_.protocol_.lost(reason);  // its effects (gate closed, flow inactive) are lose_flow()'s
    session_.core_.lose_flow(reason);
    const bool graceful = kind == Outcome::Kind::kReleased || kind == Outcome::Kind::kYielded;
    if (graceful) {
      // Fenced above: the token held goes back counted as delivered, so that the next
      // instance takes it for a certain redelivery and over at once, on every broker.
      for (auto& [tag, delivery] : deliveries_) amqp10::settle_as_failed_delivery(delivery);
    }
    deliveries_.clear();
    if (graceful && connection_ && connection_.active()) {
      connection_.close();
      container_->schedule(proton::duration(kCloseGrace.count()), [this] { container_->stop(); });
    } else if (container_) {
      container_->stop();
    }
  }

  Amqp10Session& session_;
  const amqp10::Endpoint endpoint_;
  proton::container* container_ = nullptr;
  proton::connection connection_;
  proton::sender sender_;
  proton::receiver receiver_;
  std::string product_;  // the broker's, from its Open frame
  std::string address_;
  std::map<std::uint64_t, proton::delivery> deliveries_;  // unsettled, by the protocol's tag
  std::uint64_t next_tag_ = 0;
  bool opened_ = false;        // the broker answered Open
  bool bound_called_ = false;  // the protocol was told of the binding
  bool bound_ = false;         // the receiver is attached
  bool first_token_seen_ = false;
  bool finished_ = false;
  // Artemis's queue check, while it runs.
  std::optional<amqp10::ArtemisQueueCheck> queue_check_;
  proton::receiver check_replies_;
  proton::sender check_requests_;
  bool check_replies_open_ = false;
  bool check_sent_ = false;
  bool check_concluded_ = false;
  SteadyTime handshake_deadline_{};  // for the Open, then for attaching the links
  Outcome outcome_;
};

Amqp10Session::Amqp10Session(config::SessionSettings settings, std::string queue, FencingGate& gate, Clock& clock)
    : settings_(std::move(settings)),
      queue_(std::move(queue)),
      link_name_(consumer_name()),
      core_(queue_, gate, clock),
      protocol_(random_instance_id(), protocol_timing(settings_)) {}

Amqp10Session::~Amqp10Session() { release(); }

void Amqp10Session::start(SessionListener& listener) {
  core_.set_listener(listener);
  thread_ = std::thread([this] { run(); });
}

void Amqp10Session::release() {
  core_.request_stop();
  if (thread_.joinable()) thread_.join();
}

void Amqp10Session::yield() { core_.request_yield(); }

SessionStatus Amqp10Session::status() const { return core_.status(); }

Amqp10Session::Outcome Amqp10Session::connect_and_serve(const config::BrokerAddress& host) {
  amqp10::Endpoint endpoint;
  endpoint.address = host;
  endpoint.msg_vpn = settings_.msg_vpn;
  endpoint.username = settings_.username;
  endpoint.password = settings_.password;
  endpoint.trust_store = settings_.trust_store;
  // Proton closes a connection that was silent for this long and asks the broker for a
  // frame every half of it: a dead broker is noticed within 2 heartbeats, as over 0-9-1.
  endpoint.idle_timeout = Millis{settings_.heartbeat_seconds * 2000};
  Binding binding(*this, endpoint);
  try {
    proton::container container(binding, link_name_);
    container.run();
  } catch (const std::exception& e) {
    // Proton reports a malformed frame or an option it rejects by throwing out of run().
    protocol_.lost(e.what());
    core_.lose_flow(e.what());
    return {Outcome::Kind::kLost, std::string("AMQP 1.0: ") + e.what()};
  }
  return binding.outcome();
}

void Amqp10Session::run() {
  auto log = logger("leader");
  bool ever_connected = false;
  int failed_rounds = 0;
  while (!core_.stop_requested()) {
    std::optional<Outcome> served;
    for (const auto& host : settings_.hosts) {
      for (int attempt = 0; attempt <= settings_.connect_retries_per_host && !served; ++attempt) {
        if (core_.stop_requested()) break;
        Outcome outcome = connect_and_serve(host);
        if (outcome.kind != Outcome::Kind::kConnectFailed) {
          served = std::move(outcome);
          break;
        }
        core_.set_status(SessionHealth::kConnecting, outcome.reason);
        log->error("management session: {}", outcome.reason);
        if (core_.wait_or_stop(settings_.reconnect_wait)) break;
      }
      if (served || core_.stop_requested()) break;
    }
    if (core_.stop_requested()) break;
    if (!served) {
      ++failed_rounds;
      const int limit = ever_connected ? settings_.reconnect_retries : settings_.connect_retries;
      if (limit >= 0 && failed_rounds > limit) {
        const std::string detail = "gave up connecting after " + std::to_string(failed_rounds) +
                                   " round(s) over all hosts (session." +
                                   (ever_connected ? "reconnect-retries" : "connect-retries") +
                                   "); last error: " + core_.status().detail;
        core_.set_status(SessionHealth::kDown, detail);
        log->error("management session: {}; staying standby", detail);
        core_.wait_for_stop();
        break;
      }
      continue;
    }
    if (ever_connected) core_.count_reconnect();
    ever_connected = true;
    failed_rounds = 0;
    switch (served->kind) {
      case Outcome::Kind::kBindFailed:
        core_.set_status(SessionHealth::kDown, served->reason);
        log->error("management session: {}; staying standby, checking again in {} ms", served->reason,
                   settings_.reconnect_wait.count());
        core_.wait_or_stop(settings_.reconnect_wait);  // the loop ends if asked to stop
        break;
      case Outcome::Kind::kLost:
        core_.set_status(SessionHealth::kConnecting, served->reason);
        log->warn("management session lost: {}; reconnecting", served->reason);
        break;
      case Outcome::Kind::kYielded:
        core_.set_status(SessionHealth::kBound, served->reason);
        // Let a standby take the flow before this instance queues up again.
        core_.wait_or_stop(Millis{1000});
        break;
      case Outcome::Kind::kReleased:
      case Outcome::Kind::kConnectFailed:
        break;
    }
  }
  core_.lose_flow("released");
}

}  // namespace mi::session

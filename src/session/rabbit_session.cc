#include "session/rabbit_session.h"

#include "common/logging.h"
#include "amqp/connection.h"
#include "session/session_timing.h"

namespace mi::session {

using amqp::RabbitConnection;
using amqp::RabbitError;
namespace {

constexpr unsigned short kPrefetch = 100;  // a new active sees every token at once
constexpr Millis kMaxPoll{50};

}  // namespace

RabbitSession::RabbitSession(config::SessionSettings settings, std::string queue, FencingGate& gate, Clock& clock)
    : settings_(std::move(settings)),
      queue_(std::move(queue)),
      consumer_tag_(consumer_name()),
      lease_(protocol_timing(settings_).lease),
      core_(queue_, gate, clock),
      protocol_(random_instance_id(), protocol_timing(settings_)) {}

RabbitSession::~RabbitSession() { release(); }

void RabbitSession::start(SessionListener& listener) {
  core_.set_listener(listener);
  thread_ = std::thread([this] { run(); });
}

void RabbitSession::release() {
  core_.request_stop();
  if (thread_.joinable()) thread_.join();
}

void RabbitSession::yield() { core_.request_yield(); }

SessionStatus RabbitSession::status() const { return core_.status(); }

bool RabbitSession::connect_any_host() {
  auto log = logger("leader");
  for (const auto& host : settings_.hosts) {
    for (int attempt = 0; attempt <= settings_.connect_retries_per_host; ++attempt) {
      if (core_.stop_requested()) return false;
      try {
        connection_ = std::make_unique<RabbitConnection>(host, settings_, lease_);
        log->info("management session connected to {} (vhost '{}')", host.display(), settings_.vhost);
        return true;
      } catch (const RabbitError& e) {
        core_.set_status(SessionHealth::kConnecting, e.what());
        log->error("management session: {}", e.what());
      }
      if (core_.wait_or_stop(settings_.reconnect_wait)) return false;
    }
  }
  return false;
}

bool RabbitSession::bind_queue() {
  try {
    const auto info = connection_->declare_passive(queue_);
    if (!connection_->check_single_active_consumer(queue_) && !warned_not_quorum_) {
      warned_not_quorum_ = true;
      logger("leader")->warn(
          "management queue '{}' is not a quorum queue: on a RabbitMQ cluster it lives on one node, and two instances "
          "can be active at once when that node is cut off from the others (README, \"On a cluster\"); recreate it "
          "with: micro-integration --create-management-queue",
          queue_);
    }
    if (apply(protocol_.bound(core_.now(), info.messages, info.consumers, core_.epoch_floor()))) {
      return false;
    }
    connection_->consume(queue_, kPrefetch, consumer_tag_);
  } catch (const RabbitError& e) {
    std::string detail = e.what();
    if (e.code() == 404) {
      detail = "management queue '" + queue_ + "' does not exist in vhost '" + settings_.vhost +
               "' (create it with: micro-integration --create-management-queue)";
    } else if (e.code() == 403) {
      detail = "access to management queue '" + queue_ + "' refused for user '" + settings_.username + "': " + detail;
    }
    core_.set_status(SessionHealth::kDown, detail);
    logger("leader")->error("management session: {}; staying standby, checking again in {} ms", detail,
                            settings_.reconnect_wait.count());
    return false;
  }
  core_.set_status(SessionHealth::kBound, "bound to management queue '" + queue_ + "'");
  logger("leader")->info("management session bound to queue '{}' (standby until the broker makes this flow active)",
                         queue_);
  return true;
}

std::optional<std::string> RabbitSession::apply(const SessionEffects& effects) {
  // The links of this connection, for the shared part of the step.
  class Channel final : public SessionCore::Links {
   public:
    Channel(RabbitConnection& connection, const std::string& queue) : connection_(connection), queue_(queue) {}
    void publish(const std::string& body) override { connection_.publish_persistent(queue_, body); }
    void ack(std::uint64_t tag) override { connection_.ack(tag, false); }

   private:
    RabbitConnection& connection_;
    const std::string& queue_;
  } channel(*connection_, queue_);
  if (auto ended = core_.apply(effects, channel)) return ended;
  if (effects.resubscribe) {
    connection_->consume_on_new_channel(queue_, kPrefetch, consumer_tag_);
    logger("leader")->debug("management session: consumer registered again on a new channel");
  }
  if (effects.check_queue) {
    const auto info = connection_->declare_passive(queue_);
    return apply(protocol_.queue_checked(info.messages));
  }
  return std::nullopt;
}

RabbitSession::BindingEnd RabbitSession::serve() {
  using Kind = BindingEnd::Kind;
  for (;;) {
    if (core_.stop_requested()) return {Kind::kReleased, "released"};
    if (core_.take_yield() && core_.active()) return {Kind::kYielded, "yielded"};  // a standby has nothing to yield
    if (auto ended = apply(protocol_.tick(core_.now()))) return {Kind::kLost, *ended};
    const SteadyTime now = core_.now();
    const Millis wait = protocol_.next_tick() <= now
                            ? Millis{0}
                            : std::min(kMaxPoll, std::chrono::ceil<Millis>(protocol_.next_tick() - now));
    // A consumer the broker cancelled, a closed channel or connection: next_event() throws,
    // whatever the protocol was waiting for (frames that arrived during an RPC are queued
    // by rabbitmq-c and read here).
    const auto event = connection_->next_event(wait);
    if (event.kind != RabbitConnection::Event::kDelivery) continue;
    if (auto ended = apply(protocol_.delivered(core_.now(), event.tag, event.body,
                                               event.redelivered, core_.epoch_floor()))) {
      return {Kind::kLost, *ended};
    }
  }
}

void RabbitSession::run() {
  auto log = logger("leader");
  bool ever_connected = false;
  int failed_rounds = 0;
  while (!core_.stop_requested()) {
    if (!connect_any_host()) {
      if (core_.stop_requested()) break;
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
    if (!bind_queue()) {
      connection_.reset();
      if (core_.wait_or_stop(settings_.reconnect_wait)) break;
      continue;
    }
    BindingEnd end{BindingEnd::Kind::kLost, ""};
    try {
      end = serve();
    } catch (const RabbitError& e) {
      end.reason = e.what();
    }
    const std::string& reason = end.reason;
    const bool graceful = end.kind != BindingEnd::Kind::kLost;
    protocol_.lost(reason);  // its effects (gate closed, flow inactive) are lose_flow()'s
    core_.lose_flow(reason);
    if (graceful) {
      // Closing the connection hands the token to the next consumer at once.
      try {
        connection_->close_gracefully();
      } catch (const std::exception&) {
      }
    } else {
      core_.set_status(SessionHealth::kConnecting, reason);
      log->warn("management session lost: {}; reconnecting", reason);
    }
    connection_.reset();
    core_.set_status(graceful ? SessionHealth::kBound : SessionHealth::kConnecting, reason);
    if (end.kind == BindingEnd::Kind::kYielded) {
      // Let a standby take the flow before this instance queues up again.
      if (core_.wait_or_stop(Millis{1000})) break;
    }
  }
  core_.lose_flow("released");
}

}  // namespace mi::session

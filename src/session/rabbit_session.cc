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
      gate_(gate),
      clock_(clock),
      consumer_tag_(consumer_name()),
      lease_(protocol_timing(settings_).lease),
      protocol_(random_instance_id(), protocol_timing(settings_)) {}

RabbitSession::~RabbitSession() { release(); }

void RabbitSession::start(SessionListener& listener) {
  listener_ = &listener;
  thread_ = std::thread([this] { run(); });
}

void RabbitSession::release() {
  {
    MutexLock lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void RabbitSession::yield() {
  {
    MutexLock lock(mutex_);
    yield_ = true;
  }
  cv_.notify_all();
}

SessionStatus RabbitSession::status() const {
  MutexLock lock(mutex_);
  return status_;
}

void RabbitSession::set_status(SessionHealth health, const std::string& detail) {
  MutexLock lock(mutex_);
  status_.health = health;
  status_.detail = detail;
  status_.active = active_;
}

bool RabbitSession::wait_or_stop(Millis duration) {
  MutexLock lock(mutex_);
  return clock_.wait_for(lock.native(), cv_, duration, [this]() REQUIRES(mutex_) { return stop_; });
}

void RabbitSession::lose_flow(const std::string& reason, bool lease_expiry) {
  if (!active_) return;
  // Say so when the lease ran out before the loss was noticed (e.g. after SIGSTOP): the
  // workflows were fenced from that moment on.
  const bool lease_had_expired = !gate_.allows(clock_.now());
  // Fence first: from here on no workflow sends anything, whatever the leader does next.
  gate_.close();
  active_ = false;
  {
    MutexLock lock(mutex_);
    status_.active = false;
  }
  logger("leader")->warn("management session: flow inactive: {}{}", reason,
                         lease_had_expired && !lease_expiry ? " (the lease had expired)" : "");
  listener_->flow_inactive(reason);
}

bool RabbitSession::connect_any_host() {
  auto log = logger("leader");
  for (const auto& host : settings_.hosts) {
    for (int attempt = 0; attempt <= settings_.connect_retries_per_host; ++attempt) {
      {
        MutexLock lock(mutex_);
        if (stop_) return false;
      }
      try {
        connection_ = std::make_unique<RabbitConnection>(host, settings_, lease_);
        log->info("management session connected to {} (vhost '{}')", host.display(), settings_.vhost);
        return true;
      } catch (const RabbitError& e) {
        set_status(SessionHealth::kConnecting, e.what());
        log->error("management session: {}", e.what());
      }
      if (wait_or_stop(settings_.reconnect_wait)) return false;
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
    if (apply(protocol_.bound(clock_.now(), info.messages, info.consumers, epoch_floor()))) return false;
    connection_->consume(queue_, kPrefetch, consumer_tag_);
  } catch (const RabbitError& e) {
    std::string detail = e.what();
    if (e.code() == 404) {
      detail = "management queue '" + queue_ + "' does not exist in vhost '" + settings_.vhost +
               "' (create it with: micro-integration --create-management-queue)";
    } else if (e.code() == 403) {
      detail = "access to management queue '" + queue_ + "' refused for user '" + settings_.username + "': " + detail;
    }
    set_status(SessionHealth::kDown, detail);
    logger("leader")->error("management session: {}; staying standby, checking again in {} ms", detail,
                            settings_.reconnect_wait.count());
    return false;
  }
  set_status(SessionHealth::kBound, "bound to management queue '" + queue_ + "'");
  logger("leader")->info("management session bound to queue '{}' (standby until the broker makes this flow active)",
                         queue_);
  return true;
}

unsigned long long RabbitSession::epoch_floor() const {
  const auto ms = std::chrono::duration_cast<Millis>(clock_.wall_now().time_since_epoch()).count();
  return ms > 0 ? static_cast<unsigned long long>(ms) : 0;
}

std::optional<std::string> RabbitSession::apply(const SessionEffects& effects) {
  // The binding ends: lose_flow() closes the gate next, and says whether the lease had run
  // out before.
  if (effects.end_binding) return effects.end_binding;
  if (effects.flow_inactive) {
    lose_flow(*effects.flow_inactive, effects.lease_expired);  // closes the gate first
  } else if (effects.close_gate) {
    gate_.close();
  }
  for (const auto& line : effects.warnings) logger("leader")->warn("management session: {}", line);
  for (const auto& body : effects.publish) connection_->publish_persistent(queue_, body);
  for (const auto tag : effects.ack) connection_->ack(tag, false);
  if (effects.open_gate_until) {
    if (effects.flow_active) {
      gate_.open_until(*effects.open_gate_until, *effects.flow_active);
    } else {
      gate_.extend_until(*effects.open_gate_until);
    }
  }
  if (effects.flow_active) {
    active_ = true;
    set_status(SessionHealth::kBound, "active on management queue '" + queue_ + "'");
    logger("leader")->info("management session: flow active, term epoch {}", *effects.flow_active);
    listener_->flow_active(*effects.flow_active);
  }
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
    {
      MutexLock lock(mutex_);
      if (stop_) return {Kind::kReleased, "released"};
      if (yield_) {
        yield_ = false;
        if (active_) return {Kind::kYielded, "yielded"};
      }
    }
    if (auto ended = apply(protocol_.tick(clock_.now()))) return {Kind::kLost, *ended};
    const SteadyTime now = clock_.now();
    const Millis wait = protocol_.next_tick() <= now
                            ? Millis{0}
                            : std::min(kMaxPoll, std::chrono::ceil<Millis>(protocol_.next_tick() - now));
    // A consumer the broker cancelled, a closed channel or connection: next_event() throws,
    // whatever the protocol was waiting for (frames that arrived during an RPC are queued
    // by rabbitmq-c and read here).
    const auto event = connection_->next_event(wait);
    if (event.kind != RabbitConnection::Event::kDelivery) continue;
    if (auto ended = apply(protocol_.delivered(clock_.now(), event.tag, event.body, event.redelivered, epoch_floor()))) {
      return {Kind::kLost, *ended};
    }
  }
}

void RabbitSession::run() {
  auto log = logger("leader");
  bool ever_connected = false;
  int failed_rounds = 0;
  for (;;) {
    {
      MutexLock lock(mutex_);
      if (stop_) break;
    }
    if (!connect_any_host()) {
      {
        MutexLock lock(mutex_);
        if (stop_) break;
      }
      ++failed_rounds;
      const int limit = ever_connected ? settings_.reconnect_retries : settings_.connect_retries;
      if (limit >= 0 && failed_rounds > limit) {
        const std::string detail = "gave up connecting after " + std::to_string(failed_rounds) +
                                   " round(s) over all hosts (session." +
                                   (ever_connected ? "reconnect-retries" : "connect-retries") +
                                   "); last error: " + status().detail;
        set_status(SessionHealth::kDown, detail);
        log->error("management session: {}; staying standby", detail);
        MutexLock lock(mutex_);
        cv_.wait(lock.native(), [this]() REQUIRES(mutex_) { return stop_; });
        break;
      }
      continue;
    }
    if (ever_connected) {
      MutexLock lock(mutex_);
      ++status_.reconnects;
    }
    ever_connected = true;
    failed_rounds = 0;
    if (!bind_queue()) {
      connection_.reset();
      if (wait_or_stop(settings_.reconnect_wait)) break;
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
    lose_flow(reason);
    if (graceful) {
      // Closing the connection hands the token to the next consumer at once.
      try {
        connection_->close_gracefully();
      } catch (const std::exception&) {
      }
    } else {
      set_status(SessionHealth::kConnecting, reason);
      log->warn("management session lost: {}; reconnecting", reason);
    }
    connection_.reset();
    set_status(graceful ? SessionHealth::kBound : SessionHealth::kConnecting, reason);
    if (end.kind == BindingEnd::Kind::kYielded) {
      // Let a standby take the flow before this instance queues up again.
      if (wait_or_stop(Millis{1000})) break;
    }
  }
  lose_flow("released");
}

}  // namespace mi::session

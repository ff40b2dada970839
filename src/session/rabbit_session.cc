#include "session/rabbit_session.h"

#include <unistd.h>

#include <random>

#include "common/logging.h"
#include "amqp/connection.h"

namespace mi::session {

using amqp::RabbitConnection;
using amqp::RabbitError;
namespace {

std::string consumer_tag() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return "micro-integration@" + std::string(host) + ":" + std::to_string(getpid());
}

constexpr unsigned short kPrefetch = 100;  // a new active sees every token at once
constexpr Millis kMaxPoll{50};
// A standby checks this often that the token is not lying undelivered in the queue (which
// would mean the broker's single-active-consumer state is stuck, e.g. after a restart).
constexpr Millis kStandbyCheck{5000};

std::string random_instance_id() {
  std::random_device rd;
  std::mt19937_64 gen(rd());
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(gen()));
  return buf;
}

}  // namespace

std::string format_token(const Token& token) {
  return "micro-integration leader token epoch=" + std::to_string(token.epoch) + " owner=" + token.owner +
         " seq=" + std::to_string(token.seq);
}

std::optional<Token> parse_token(const std::string& body) {
  Token t;
  auto field = [&](const std::string& name) -> std::optional<std::string> {
    const size_t at = body.find(" " + name + "=");
    if (at == std::string::npos) return std::nullopt;
    const size_t start = at + name.size() + 2;
    return body.substr(start, body.find(' ', start) - start);
  };
  if (body.rfind("micro-integration leader token ", 0) != 0) return std::nullopt;
  const auto epoch = field("epoch");
  const auto owner = field("owner");
  const auto seq = field("seq");
  if (!epoch || !owner || !seq) return std::nullopt;
  try {
    t.epoch = std::stoull(*epoch);
    t.seq = std::stoull(*seq);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  t.owner = *owner;
  return t;
}

RabbitSession::RabbitSession(config::SessionSettings settings, std::string queue, FencingGate& gate, Clock& clock)
    : settings_(std::move(settings)),
      queue_(std::move(queue)),
      gate_(gate),
      clock_(clock),
      instance_id_(random_instance_id()),
      lease_(Millis{settings_.heartbeat_seconds * 1500}),
      probe_interval_(Millis{settings_.heartbeat_seconds * 250}) {}

RabbitSession::~RabbitSession() { release(); }

void RabbitSession::start(SessionListener& listener) {
  listener_ = &listener;
  thread_ = std::thread([this] { run(); });
}

void RabbitSession::release() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void RabbitSession::yield() {
  {
    std::lock_guard lock(mutex_);
    yield_ = true;
  }
  cv_.notify_all();
}

SessionStatus RabbitSession::status() const {
  std::lock_guard lock(mutex_);
  return status_;
}

void RabbitSession::set_status(SessionHealth health, const std::string& detail) {
  std::lock_guard lock(mutex_);
  status_.health = health;
  status_.detail = detail;
  status_.active = active_;
}

bool RabbitSession::wait_or_stop(Millis duration) {
  std::unique_lock lock(mutex_);
  return clock_.wait_for(lock, cv_, duration, [this] { return stop_; });
}

void RabbitSession::lose_flow(const std::string& reason) {
  if (!active_) return;
  // Say so when the lease ran out before the loss was noticed (e.g. after SIGSTOP): the
  // workflows were fenced from that moment on.
  const bool lease_had_expired = !gate_.allows(clock_.now());
  // Fence first: from here on no workflow sends anything, whatever the leader does next.
  gate_.close();
  active_ = false;
  logger("leader")->warn("management session: flow inactive: {}{}", reason,
                         lease_had_expired && reason.find("lease") == std::string::npos ? " (the lease had expired)" : "");
  listener_->flow_inactive(reason);
}

bool RabbitSession::connect_any_host() {
  auto log = logger("leader");
  for (const auto& host : settings_.hosts) {
    for (int attempt = 0; attempt <= settings_.connect_retries_per_host; ++attempt) {
      {
        std::lock_guard lock(mutex_);
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
    connection_->check_single_active_consumer(queue_);
    if (info.messages == 0 && info.consumers == 0) {
      // Nobody holds or waits for a token: put the first one in (owned by nobody, so whoever
      // receives it claims a term above it). A new queue, or one deleted and recreated, has
      // lost the epoch, and this process may know an old one only (a standby never sees the
      // token; a restarted process has seen none). So the seed is at least the wall clock
      // in Unix milliseconds: above every earlier term's epoch, as long as failovers come
      // less often than one per millisecond and the hosts' clocks agree to within the time
      // since the previous seed.
      connection_->publish_persistent(queue_, format_token({std::max(highest_epoch_, epoch_floor()), "seed", 0}));
    }
    // A tag naming this process, so `rabbitmqctl list_consumers` (and the management UI)
    // shows which instance holds the management queue.
    connection_->consume(queue_, kPrefetch, consumer_tag());
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

std::string RabbitSession::serve() {
  enum class Phase { kStandby, kClaiming, kActive } phase = Phase::kStandby;
  unsigned long long max_seen = highest_epoch_;
  unsigned long long epoch = 0;
  unsigned long long expected_seq = 0;  // our token we wait to see delivered back
  SteadyTime claim_sent{};
  SteadyTime next_probe{};
  SteadyTime next_refresh{};
  SteadyTime next_standby_check = clock_.now() + kStandbyCheck;
  int undelivered_checks = 0;
  // Delivery tags received and not yet acknowledged. Acknowledged one by one: a multiple
  // ack would name a tag that may already be settled, which the broker treats as an error.
  std::vector<unsigned long long> unacked;
  auto ack_below = [&](unsigned long long tag) {
    for (auto it = unacked.begin(); it != unacked.end();) {
      if (*it < tag) {
        connection_->ack(*it, false);
        it = unacked.erase(it);
      } else {
        ++it;
      }
    }
  };

  auto claim = [&](SteadyTime now) {
    epoch = max_seen + 1;
    highest_epoch_ = std::max(highest_epoch_, epoch);
    expected_seq = ++seq_;
    connection_->publish_persistent(queue_, format_token({epoch, instance_id_, expected_seq}));
    claim_sent = now;
    phase = Phase::kClaiming;
  };

  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stop_) return "released";
      if (yield_) {
        yield_ = false;
        if (active_) return "yielded";
      }
    }
    SteadyTime now = clock_.now();
    Millis wait = kMaxPoll;
    if (phase == Phase::kActive) {
      if (!gate_.allows(now)) return "lease expired: the flow was not confirmed for " + std::to_string(lease_.count()) + " ms";
      if (now >= next_probe) {
        // A round trip proves the broker had not closed us when the request left; the lease
        // runs from the moment it was sent.
        const SteadyTime sent = now;
        connection_->declare_passive(queue_);
        gate_.extend_until(sent + lease_);
        next_probe = sent + probe_interval_;
      }
      if (now >= next_refresh) {
        expected_seq = ++seq_;
        connection_->publish_persistent(queue_, format_token({epoch, instance_id_, expected_seq}));
        next_refresh = now + settings_.token_refresh;
      }
      now = clock_.now();
      wait = std::min(wait, std::max(Millis{1}, std::chrono::duration_cast<Millis>(next_probe - now)));
    } else if (phase == Phase::kClaiming && now - claim_sent > lease_) {
      return "claim of a new term was not confirmed within the lease";
    } else if (phase == Phase::kStandby && now >= next_standby_check) {
      next_standby_check = now + kStandbyCheck;
      // An active instance holds the token unacknowledged, so ready messages that stay
      // ready mean nobody receives them: bind again.
      undelivered_checks = connection_->declare_passive(queue_).messages > 0 ? undelivered_checks + 1 : 0;
      if (undelivered_checks >= 2) return "the token was not delivered to any consumer for 10 s; binding again";
    }

    const auto event = connection_->next_event(wait);
    if (event.kind != RabbitConnection::Event::kDelivery) continue;
    const auto token = parse_token(event.body);
    if (!token) {
      logger("leader")->warn("management queue '{}' holds a message that is not a leader token; discarding it", queue_);
      connection_->ack(event.tag, false);
      continue;
    }
    now = clock_.now();
    unacked.push_back(event.tag);
    if (token->owner == instance_id_ && token->seq == expected_seq) {
      // Our own token came back: the broker stored it and still delivers to us. Earlier
      // tokens are done with.
      ack_below(event.tag);
      if (phase == Phase::kClaiming) {
        phase = Phase::kActive;
        active_ = true;
        gate_.open_until(claim_sent + lease_, epoch);
        set_status(SessionHealth::kBound, "active on management queue '" + queue_ + "'");
        next_probe = now;
        next_refresh = now + settings_.token_refresh;
        logger("leader")->info("management session: flow active, term epoch {}", epoch);
        listener_->flow_active(epoch);
      }
      continue;
    }
    max_seen = std::max(max_seen, token->epoch);
    highest_epoch_ = std::max(highest_epoch_, max_seen);
    // An older token of ours (e.g. from before a reconnect) while claiming or active is
    // acknowledged together with the next one; as a standby it is a token like any other.
    if (token->owner == instance_id_ && phase != Phase::kStandby) continue;
    if (phase == Phase::kStandby) {
      claim(now);
    } else if (phase == Phase::kClaiming && token->epoch >= epoch) {
      claim(now);  // a later term than we were claiming exists: claim above it
    } else if (phase == Phase::kActive) {
      if (token->epoch > epoch) return "a token of a later term (" + std::to_string(token->epoch) + ") appeared";
      connection_->ack(event.tag, false);  // a stale or seed token
      unacked.pop_back();
    }
  }
}

void RabbitSession::run() {
  auto log = logger("leader");
  bool ever_connected = false;
  int failed_rounds = 0;
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stop_) break;
    }
    if (!connect_any_host()) {
      {
        std::lock_guard lock(mutex_);
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
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [this] { return stop_; });
        break;
      }
      continue;
    }
    if (ever_connected) {
      std::lock_guard lock(mutex_);
      ++status_.reconnects;
    }
    ever_connected = true;
    failed_rounds = 0;
    if (!bind_queue()) {
      connection_.reset();
      if (wait_or_stop(settings_.reconnect_wait)) break;
      continue;
    }
    std::string reason;
    bool graceful = false;
    try {
      reason = serve();
      graceful = reason == "released" || reason == "yielded";
    } catch (const RabbitError& e) {
      reason = e.what();
    }
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
    if (reason == "yielded") {
      // Let a standby take the flow before this instance queues up again.
      if (wait_or_stop(Millis{1000})) break;
    }
  }
  lose_flow("released");
}

}  // namespace mi::session

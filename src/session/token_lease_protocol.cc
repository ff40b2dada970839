#include "session/token_lease_protocol.h"

#include <algorithm>
#include <stdexcept>

namespace mi::session {

namespace {
constexpr const char* kTokenPrefix = "micro-integration leader token ";
constexpr const char* kSeedOwner = "seed";
constexpr const char* kMarkerPrefix = "micro-integration standby refresh ";
}  // namespace

std::string format_refresh_marker(const std::string& owner) { return kMarkerPrefix + std::string("owner=") + owner; }
bool is_refresh_marker(const std::string& body) { return body.rfind(kMarkerPrefix, 0) == 0; }

std::string format_token(const Token& token) {
  return kTokenPrefix + std::string("epoch=") + std::to_string(token.epoch) + " owner=" + token.owner +
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
  if (body.rfind(kTokenPrefix, 0) != 0) return std::nullopt;
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

TokenLeaseProtocol::TokenLeaseProtocol(std::string instance_id, Timing timing)
    : instance_id_(std::move(instance_id)), configured_(timing), timing_(timing) {}

void TokenLeaseProtocol::limit_lease(Millis limit) {
  if (phase_ != Phase::kUnbound) throw std::logic_error("limit_lease() while bound");
  timing_ = configured_;
  if (limit > Millis{0} && limit < timing_.lease) {
    timing_.lease = limit;
    timing_.rotate_interval = std::min(timing_.rotate_interval, limit / 4);
  }
}

SessionEffects TokenLeaseProtocol::bound(SteadyTime now, unsigned ready, unsigned consumers,
                                         unsigned long long epoch_floor) {
  SessionEffects out;
  phase_ = Phase::kStandby;
  epoch_ = 0;
  in_flight_.clear();
  unacked_.clear();
  last_confirmed_sent_.reset();
  undelivered_checks_ = 0;
  next_standby_check_ = now + timing_.standby_check;
  if (ready == 0 && consumers == 0) {
    // Nobody holds or waits for a token: put the first one in, owned by nobody, so whoever
    // receives it claims a term above it. A new queue, or one deleted and recreated, has
    // lost the epoch, and this process may know an old one only (a standby never sees the
    // token; a restarted process has seen none). So the seed is at least the wall clock in
    // Unix milliseconds: above every earlier term's epoch, as long as failovers come less
    // often than one per millisecond and the hosts' clocks agree to within the time since
    // the previous seed.
    out.publish.push_back(format_token({std::max(highest_epoch_, epoch_floor), kSeedOwner, 0}));
  }
  return out;
}

void TokenLeaseProtocol::publish_own(SteadyTime now, SessionEffects& out) {
  ++seq_;
  in_flight_[seq_] = now;
  out.publish.push_back(format_token({epoch_, instance_id_, seq_}));
  next_rotate_ = now + timing_.rotate_interval;
}

void TokenLeaseProtocol::claim(SteadyTime now, SteadyTime not_before, SessionEffects& out) {
  epoch_ = highest_epoch_ + 1;
  highest_epoch_ = epoch_;
  phase_ = Phase::kClaiming;
  gate_not_before_ = not_before;
  last_confirmed_sent_.reset();
  in_flight_.clear();  // tokens of an earlier claim prove nothing about this term
  publish_own(now, out);
}

void TokenLeaseProtocol::maybe_activate(SteadyTime now, SessionEffects& out) {
  if (phase_ != Phase::kClaiming || !last_confirmed_sent_ || now < gate_not_before_) return;
  const SteadyTime until = *last_confirmed_sent_ + timing_.lease;
  if (now >= until) return;  // that proof is too old; the next rotation brings a fresh one
  phase_ = Phase::kActive;
  lease_until_ = until;
  out.open_gate_until = until;
  out.flow_active = epoch_;
}

void TokenLeaseProtocol::end(const std::string& reason, SessionEffects& out) {
  out.close_gate = true;
  if (phase_ == Phase::kActive) out.flow_inactive = reason;
  out.end_binding = reason;
  phase_ = Phase::kUnbound;
  in_flight_.clear();
  unacked_.clear();
}

void TokenLeaseProtocol::refresh_marker_delivered(SteadyTime now, std::uint64_t tag, unsigned long long epoch_floor,
                                                  SessionEffects& out) {
  out.ack.push_back(tag);
  if (phase_ == Phase::kStandby) {
    // The queue delivers to us and no token came first: it has none. Claim above every
    // epoch this process knows and above the wall clock, as a seed would.
    out.warnings.push_back(
        "the management queue delivers to this instance and holds no token; claiming a new term, active no "
        "earlier than " +
        std::to_string(timing_.lease.count()) + " ms from now");
    highest_epoch_ = std::max(highest_epoch_, epoch_floor);
    claim(now, now + timing_.lease, out);
  } else if (phase_ == Phase::kClaiming) {
    // The tokens before it may have been taken from a silent consumer, not from their
    // publisher, whose lease may still run. (Or the marker was on its way to an active
    // instance that died: the takeover then waits a lease it did not need to.)
    gate_not_before_ = std::max(gate_not_before_, now + timing_.lease);
    out.warnings.push_back("a standby's refresh marker came with the token: its publisher may still hold its lease; "
                           "active no earlier than " + std::to_string(timing_.lease.count()) + " ms from now");
  }
}

SessionEffects TokenLeaseProtocol::delivered(SteadyTime now, std::uint64_t tag, const std::string& body,
                                             bool redelivered, unsigned long long epoch_floor) {
  SessionEffects out;
  if (phase_ == Phase::kUnbound) return out;
  if (is_refresh_marker(body)) {
    refresh_marker_delivered(now, tag, epoch_floor, out);
    return out;
  }
  const auto token = parse_token(body);
  if (!token) {
    out.warnings.push_back("the management queue holds a message that is not a leader token; discarding it");
    out.ack.push_back(tag);
    return out;
  }
  unacked_.push_back(tag);
  if (token->owner == instance_id_ && phase_ != Phase::kStandby) {
    const auto sent = in_flight_.find(token->seq);
    if (sent == in_flight_.end()) return out;  // an older token of ours: acknowledged with the next
    // Our own token came back: the queue stored it and still delivers to us. The tokens
    // before it are done with; this one is held until the next comes back.
    const SteadyTime sent_at = sent->second;
    in_flight_.erase(in_flight_.begin(), std::next(sent));
    out.ack.assign(unacked_.begin(), std::prev(unacked_.end()));
    unacked_.erase(unacked_.begin(), std::prev(unacked_.end()));
    if (phase_ == Phase::kActive) {
      lease_until_ = std::max(lease_until_, sent_at + timing_.lease);
      out.open_gate_until = lease_until_;
    } else {
      last_confirmed_sent_ = sent_at;
      maybe_activate(now, out);
    }
    return out;
  }
  highest_epoch_ = std::max(highest_epoch_, token->epoch);
  // A token that was delivered before was taken from a consumer the broker dropped, whose
  // lease is over. One never delivered before was published by a holder that may still be
  // alive: its lease can run for one more lease from now.
  const bool holder_may_be_alive = !redelivered && token->owner != kSeedOwner && token->owner != instance_id_;
  const SteadyTime not_before = holder_may_be_alive ? now + timing_.lease : now;
  if (phase_ == Phase::kStandby) {
    if (holder_may_be_alive) {
      out.warnings.push_back("the management queue moved to this instance while instance " + token->owner +
                             " may still hold the lease of term " + std::to_string(token->epoch) +
                             " (was the queue deleted and recreated?); claiming a new term, active no earlier than " +
                             std::to_string(timing_.lease.count()) + " ms from now");
    }
    claim(now, not_before, out);
  } else if (phase_ == Phase::kClaiming) {
    // A later term than we were claiming exists: claim above it.
    if (token->epoch >= epoch_) claim(now, std::max(gate_not_before_, not_before), out);
  } else {
    // A seed comes from an instance that could not count the queue while binding (AMQP 1.0).
    if (token->epoch > epoch_ && token->owner != kSeedOwner) {
      out.warnings.push_back("ignored a token of a later term (" + std::to_string(token->epoch) + ") from " +
                             token->owner + ": the queue delivered it to this instance, not to its publisher. If "
                             "this repeats, the management queue is not exclusive and another instance may be "
                             "active too: make it an exclusive queue (on ActiveMQ Artemis the session checks that "
                             "before it binds)");
    }
    out.ack.push_back(tag);  // a stale, seed or never-confirmed token
    unacked_.pop_back();
  }
  return out;
}

SessionEffects TokenLeaseProtocol::tick(SteadyTime now) {
  SessionEffects out;
  switch (phase_) {
    case Phase::kUnbound:
      break;
    case Phase::kStandby:
      if (now >= next_standby_check_) {
        next_standby_check_ = now + timing_.standby_check;
        out.check_queue = true;
      }
      break;
    case Phase::kClaiming:
      maybe_activate(now, out);
      if (out.flow_active) break;
      if (!in_flight_.empty() && now - in_flight_.begin()->second > timing_.claim_patience) {
        end("claim of a new term was not confirmed within " + std::to_string(timing_.claim_patience.count()) + " ms",
            out);
      } else if (last_confirmed_sent_ && now >= next_rotate_) {
        publish_own(now, out);  // waiting out the previous holder's lease: keep the proof fresh
      }
      break;
    case Phase::kActive:
      if (now >= lease_until_) {
        // Fenced at once; the binding stays, in case this instance still holds the queue.
        out.close_gate = true;
        out.flow_inactive = "lease expired: the token was not confirmed for " + std::to_string(timing_.lease.count()) +
                            " ms; claiming a new term on the same binding";
        out.lease_expired = true;
        claim(now, now, out);
      } else if (now >= next_rotate_) {
        publish_own(now, out);
      }
      break;
  }
  return out;
}

SessionEffects TokenLeaseProtocol::queue_checked(unsigned ready) {
  SessionEffects out;
  if (phase_ != Phase::kStandby) return out;
  // An active instance holds the token unacknowledged, so ready messages that stay ready
  // mean nobody receives them: bind again.
  undelivered_checks_ = ready > 0 ? undelivered_checks_ + 1 : 0;
  if (undelivered_checks_ >= 2) {
    end("the token was not delivered to any consumer for " +
            std::to_string(2 * timing_.standby_check.count() / 1000) + " s; binding again",
        out);
  } else if (ready == 0 && unacked_.empty()) {
    // The queue delivers what it gets (nothing waits in it): register again, in case this
    // consumer is the one it delivers to and the channel drops it. (With messages waiting,
    // the queue delivers to nobody for now, and a marker would only wait with them.)
    out.publish.push_back(format_refresh_marker(instance_id_));
    out.resubscribe = true;
  }
  return out;
}

SessionEffects TokenLeaseProtocol::lost(const std::string& reason) {
  SessionEffects out;
  end(reason, out);
  return out;
}

SteadyTime TokenLeaseProtocol::next_tick() const {
  switch (phase_) {
    case Phase::kStandby:
      return next_standby_check_;
    case Phase::kClaiming: {
      SteadyTime t = next_rotate_;
      if (!in_flight_.empty()) t = std::min(t, in_flight_.begin()->second + timing_.claim_patience);
      if (last_confirmed_sent_) t = std::min(t, gate_not_before_);  // when maybe_activate() may succeed
      return t;
    }
    case Phase::kActive:
      return std::min(next_rotate_, lease_until_);
    case Phase::kUnbound:
      break;
  }
  return SteadyTime::max();
}

}  // namespace mi::session

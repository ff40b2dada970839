#pragma once
// For tests: an in-memory single-active-consumer queue as a quorum queue behaves, so the
// session protocol can be tried against claim races, kills, partitions and a recreated queue
// in milliseconds. The first subscribed consumer is the active one; when it is dropped its
// unacknowledged messages go back to the front of the queue, marked redelivered, and the
// next consumer becomes active.
//
// A consumer can be *cut* off from the queue's majority: what it publishes is never stored,
// nothing more is delivered to it, but the queue keeps it as its consumer until the test
// drops it, the way the majority side keeps a consumer until it declares its node down.
#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace mi::session::testing {

class SacQueueModel {
 public:
  struct Delivery {
    std::uint64_t tag;
    std::string body;
    bool redelivered;
  };

  void subscribe(int consumer) {
    consumers_.push_back(consumer);
    dispatch();
  }
  // The consumer's connection closed, or the majority declared its node down.
  void drop(int consumer) {
    std::erase(consumers_, consumer);
    cut_.erase(consumer);
    deaf_.erase(consumer);
    pending_.erase(consumer);
    auto& held = unacked_[consumer];
    for (auto it = held.rbegin(); it != held.rend(); ++it) {
      it->second.redelivered = true;
      ready_.push_front(it->second);
    }
    held.clear();
    dispatch();
  }
  void cut(int consumer) { cut_.insert(consumer); }
  // No leader for a while: what is published waits, nothing is delivered.
  void stall() { stalled_ = true; }
  void resume() {
    stalled_ = false;
    dispatch();
  }
  // basic.cancel and basic.consume again: what it held goes back, it queues up last.
  void resubscribe(int consumer) {
    drop(consumer);
    subscribe(consumer);
  }

  void publish(int from, const std::string& body) {
    if (cut_.count(from)) return;  // never reaches a majority: not stored, not confirmed
    ready_.push_back({body, false});
    dispatch();
  }
  void ack(int consumer, std::uint64_t tag) {
    if (cut_.count(consumer)) return;
    unacked_[consumer].erase(tag);
  }
  // Deleted and declared again: the messages are gone, and (as RabbitMQ 3.10 does when a
  // quorum queue is recreated under the same name at once) the channels' consumers are
  // registered on the new queue without a cancel, in the order given. The channels of the
  // `deaf` ones drop every delivery of the new queue until they subscribe again, while the
  // queue counts the messages as delivered to them.
  void recreate(const std::vector<int>& consumers_in_order, const std::set<int>& deaf = {}) {
    ready_.clear();
    unacked_.clear();
    pending_.clear();
    consumers_ = consumers_in_order;
    deaf_ = deaf;
    dispatch();
  }

  std::vector<Delivery> take(int consumer) {
    std::vector<Delivery> out;
    out.swap(pending_[consumer]);
    return out;
  }
  std::size_t ready() const { return ready_.size(); }
  std::size_t consumers() const { return consumers_.size(); }
  int active_consumer() const { return consumers_.empty() ? -1 : consumers_.front(); }

 private:
  struct Message {
    std::string body;
    bool redelivered;
  };
  void dispatch() {
    if (consumers_.empty() || stalled_) return;
    const int active = consumers_.front();
    if (cut_.count(active)) return;
    while (!ready_.empty()) {
      const Message m = ready_.front();
      ready_.pop_front();
      const std::uint64_t tag = ++next_tag_;
      unacked_[active][tag] = m;
      if (!deaf_.count(active)) pending_[active].push_back({tag, m.body, m.redelivered});
    }
  }

  std::vector<int> consumers_;
  std::set<int> cut_;
  std::set<int> deaf_;
  bool stalled_ = false;
  std::deque<Message> ready_;
  std::map<int, std::map<std::uint64_t, Message>> unacked_;
  std::map<int, std::vector<Delivery>> pending_;
  std::uint64_t next_tag_ = 0;
};

}  // namespace mi::session::testing

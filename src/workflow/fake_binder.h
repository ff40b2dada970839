#pragma once
// An in-memory binder for unit tests: the input is a queue the test fills, the output
// records what it stored and can be told to fail.
#include <atomic>
#include <deque>
#include <functional>
#include <mutex>
#include <vector>

#include "workflow/binder.h"

namespace mi::workflow::testing {

struct FakeBroker {
  std::mutex mutex;
  std::deque<Message> queue;            // input side: not yet delivered
  std::vector<Message> unacked;         // delivered, neither acked nor rejected
  std::vector<Message> acked;
  std::vector<Message> stored;          // output side
  int output_failures_to_inject = 0;    // next N sends throw: output unavailable
  std::string poison_payload;           // sends of this payload are always refused
  bool dead_letter_enabled = false;     // the input has a dead-letter destination
  std::vector<Message> dead_letters;
  std::vector<std::size_t> batch_sizes;  // of every send_batch call
  std::atomic<bool> fail_open{false};   // the input's open throws
  std::atomic<int> open_attempts{0};    // of the input
  std::function<void()> on_open;        // runs in the output's open (set before start)
  int rejects = 0;
};

class FakeInput final : public InputBinding {
 public:
  explicit FakeInput(FakeBroker& b) : broker_(b) {}
  void open() override {
    ++broker_.open_attempts;
    if (broker_.fail_open) throw BindingError("fake input cannot open");
  }
  std::optional<Delivery> receive(Millis) override {
    std::lock_guard lock(broker_.mutex);
    if (broker_.queue.empty()) return std::nullopt;
    Delivery d{++tag_, broker_.queue.front()};
    broker_.queue.pop_front();
    broker_.unacked.push_back(d.message);
    return d;
  }
  void ack(const Delivery& d) override {
    std::lock_guard lock(broker_.mutex);
    broker_.acked.push_back(d.message);
    erase_unacked(d);
  }
  void reject(const Delivery& d) override {
    std::lock_guard lock(broker_.mutex);
    ++broker_.rejects;
    broker_.queue.push_front(d.message);
    erase_unacked(d);
  }
  bool dead_letter(const Delivery& d, const std::string& reason) override {
    std::lock_guard lock(broker_.mutex);
    if (!broker_.dead_letter_enabled) return false;
    Message m = d.message;
    m.headers["x-exception-message"] = reason;
    broker_.dead_letters.push_back(m);
    erase_unacked(d);
    return true;
  }
  void close() override {}

 private:
  void erase_unacked(const Delivery& d) {
    for (auto it = broker_.unacked.begin(); it != broker_.unacked.end(); ++it) {
      if (it->payload == d.message.payload) {
        broker_.unacked.erase(it);
        return;
      }
    }
  }
  FakeBroker& broker_;
  unsigned long long tag_ = 0;
};

class FakeOutput final : public OutputBinding {
 public:
  explicit FakeOutput(FakeBroker& b) : broker_(b) {}
  void open() override {
    if (broker_.on_open) broker_.on_open();
  }
  void send(const Message& m, const FencingGate*) override {
    std::lock_guard lock(broker_.mutex);
    if (broker_.output_failures_to_inject > 0) {
      --broker_.output_failures_to_inject;
      throw BindingError("fake output unavailable");
    }
    if (!broker_.poison_payload.empty() && m.payload == broker_.poison_payload) {
      throw RefusedError("fake output refused " + m.payload);
    }
    broker_.stored.push_back(m);
  }
  std::vector<SendOutcome> send_batch(const std::vector<const Message*>& messages, const FencingGate* fence,
                                      Millis timeout) override {
    {
      std::lock_guard lock(broker_.mutex);
      broker_.batch_sizes.push_back(messages.size());
    }
    return OutputBinding::send_batch(messages, fence, timeout);
  }
  void close() override {}

 private:
  FakeBroker& broker_;
};

class FakeBinder final : public Binder {
 public:
  explicit FakeBinder(FakeBroker& b) : broker_(b) {}
  std::string type() const override { return "fake"; }
  std::unique_ptr<InputBinding> create_input(const config::BindingSettings&) override {
    return std::make_unique<FakeInput>(broker_);
  }
  std::unique_ptr<OutputBinding> create_output(const config::BindingSettings&) override {
    return std::make_unique<FakeOutput>(broker_);
  }

 private:
  FakeBroker& broker_;
};

}  // namespace mi::workflow::testing

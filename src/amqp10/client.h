#pragma once
// One AMQP 1.0 connection with at most one receiver and one sender, for callers that block
// (the amqp binder): Proton's container runs on the client's own thread, the calls below
// hand it work through a work queue and wait for its answers.
#include <proton/container.hpp>
#include <proton/work_queue.hpp>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "amqp10/endpoint.h"
#include "common/fencing_gate.h"
#include "common/mutex.h"

namespace mi::amqp10 {

// The connection or a link failed; the client is unusable (destroy it).
class Amqp10Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using Headers = std::map<std::string, std::string>;

struct Received {
  std::uint64_t tag = 0;
  std::string body;
  Headers headers;
};

// The broker's answer to a sent message.
struct SendAnswer {
  enum class Kind { kPending, kAccepted, kRefused, kFenced } kind = Kind::kPending;
  std::string text;  // kRefused: rejected, released or modified, and why
};

class Client {
 public:
  // Connects and waits for the broker's Open; throws Amqp10Error.
  Client(const Endpoint& endpoint, Millis timeout);
  ~Client();  // drops the connection without waiting
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Attaches a receiver to the queue at `queue` (see queue_address()) with this much
  // credit, settling nothing by itself; waits for the broker's attach.
  // `max_message_size` is announced in the attach, and bounds what is held: the session
  // takes at most that plus two frames before the message completes (AMQP's session window),
  // and a message that grows past it is rejected (amqp:link:message-size-exceeded) and
  // the connection closed: receive() then throws, naming it.
  void open_receiver(const std::string& queue, int credit, Millis timeout,
                     std::uint64_t max_message_size = kDefaultMaxMessageSize);
  // RabbitMQ's own default max_message_size.
  static constexpr std::uint64_t kDefaultMaxMessageSize = 128ULL << 20;
  // Attaches a sender to `address` (a queue's name, or an address starting with '/').
  void open_sender(const std::string& address, Millis timeout);

  // The next message, waiting up to `timeout`; throws Amqp10Error once the connection failed.
  std::optional<Received> receive(Millis timeout);
  // Settles a received message: accepted (done with), or released (the broker delivers it
  // again, to this or another consumer).
  void accept(std::uint64_t tag);
  void release(std::uint64_t tag);

  // Sends a durable message in one data section; returns its ticket. If `fence` (null: none)
  // is closed when Proton's thread is about to send it, nothing is sent and its answer is
  // kFenced.
  std::uint64_t send(const std::string& body, const Headers& headers, const FencingGate* fence);
  // The same in two halves, for a batch: prepare_send() builds the message on the caller's
  // thread and returns its ticket; flush_sends() hands every prepared message to Proton's
  // thread in one piece of work, which sends them in order (each after its fence check).
  // One wake-up of Proton's thread per batch instead of one per message. flush_sends()
  // throws Amqp10Error if the connection is gone (the prepared messages are dropped unsent).
  std::uint64_t prepare_send(const std::string& body, const Headers& headers, const FencingGate* fence);
  void flush_sends();
  // The answers for `tickets`, waiting up to `timeout` (and no longer than `fence` stays
  // open) for all of them; throws Amqp10Error if the connection failed before they came.
  // Woken once, by the last answer (or a failure), not by every answer.
  std::vector<SendAnswer> await(const std::vector<std::uint64_t>& tickets, Millis timeout, const FencingGate* fence);

  void close_gracefully(Millis timeout);
  const std::string& product() const { return product_; }
  const std::string& url() const { return url_; }

 private:
  class Handler;
  // Runs `work` on Proton's thread; throws Amqp10Error if the connection is gone.
  void inject(std::function<void()> work);
  void throw_if_failed() const REQUIRES(mutex_);
  // Waits until Proton's thread set `attached` (the broker answered the attach) or failed.
  void await_attach(bool Client::*attached, const char* link, const std::string& address, Millis timeout);

  const std::string url_;
  std::string product_;
  std::unique_ptr<Handler> handler_;
  std::unique_ptr<proton::container> container_;
  std::thread thread_;

  mutable Mutex mutex_;
  std::condition_variable cv_;
  std::optional<std::string> failure_ GUARDED_BY(mutex_);
  proton::work_queue* work_queue_ GUARDED_BY(mutex_) = nullptr;  // the connection's, once open
  bool opened_ GUARDED_BY(mutex_) = false;
  bool receiver_open_ GUARDED_BY(mutex_) = false;
  bool sender_open_ GUARDED_BY(mutex_) = false;
  std::deque<Received> received_ GUARDED_BY(mutex_);
  // A sent message's answer, and whether await() is waiting for it.
  struct AnswerSlot {
    SendAnswer answer;
    bool awaited = false;
  };
  std::map<std::uint64_t, AnswerSlot> answers_ GUARDED_BY(mutex_);
  std::size_t awaited_pending_ GUARDED_BY(mutex_) = 0;  // awaited slots still kPending
  std::uint64_t next_ticket_ GUARDED_BY(mutex_) = 1;
  // Prepared by prepare_send(), not yet handed to Proton's thread (the caller's thread only).
  struct PreparedSend;
  std::vector<PreparedSend> prepared_;
};

}  // namespace mi::amqp10

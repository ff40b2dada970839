#pragma once
// A thin RAII wrapper over one rabbitmq-c connection with one channel, turning the library's
// reply structs into exceptions with operator-readable messages.
#include <amqp.h>

#include <cstdint>
#include <map>
#include <optional>
#include <vector>
#include <stdexcept>
#include <string>

#include "common/clock.h"
#include "common/fencing_gate.h"
#include "config/settings.h"

namespace mi::amqp {

// `code` is the AMQP reply code (404, 403, 406, 320, ...) or 0 for network/library errors.
class RabbitError : public std::runtime_error {
 public:
  RabbitError(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

class RabbitConnection {
 public:
  // Connects, logs in and opens a channel; throws RabbitError.
  RabbitConnection(const config::BrokerAddress& address, const config::SessionSettings& settings,
                   Millis rpc_timeout);
  ~RabbitConnection();  // drops the socket without a handshake
  RabbitConnection(const RabbitConnection&) = delete;
  RabbitConnection& operator=(const RabbitConnection&) = delete;

  void close_gracefully();
  // Drops the connection at once with a TCP reset, which discards whatever the kernel has
  // not delivered yet: a publish given up on behind a cut link is never delivered late (a
  // plain close would keep retransmitting it once the link heals). The object is then
  // unusable; destroy it.
  void abort();

  struct QueueInfo {
    unsigned messages = 0;   // ready messages
    unsigned consumers = 0;
  };
  QueueInfo declare_passive(const std::string& queue);
  // Throws RabbitError(406) naming the problem if the queue is not single-active-consumer.
  // Returns whether it is a quorum queue (replicated; a classic queue lives on one node).
  bool check_single_active_consumer(const std::string& queue);
  // Durable, with x-queue-type `type` ("" leaves it to the broker: classic) and, if asked,
  // x-single-active-consumer. A management queue is ("quorum", true).
  void declare_queue(const std::string& queue, const std::string& type, bool single_active_consumer);

  void publish_persistent(const std::string& queue, const std::string& body);
  // `consumer_tag` empty: the broker picks one.
  void consume(const std::string& queue, unsigned short prefetch, const std::string& consumer_tag = "");
  // Registers the consumer again on a fresh channel and closes the current one, so the
  // broker takes back what it counted as delivered there. (A quorum queue keeps what it
  // delivered to a cancelled consumer until its channel closes, and a channel can hold a
  // stale view of a queue deleted and declared again under the same name.)
  void consume_on_new_channel(const std::string& queue, unsigned short prefetch, const std::string& consumer_tag);
  void ack(unsigned long long tag, bool multiple);
  // Hands a delivery back to the queue for another attempt.
  void requeue(unsigned long long tag);
  // Refuses a delivery for good (basic.reject, no requeue): the broker dead-letters it
  // where the queue has a dead-letter exchange, else drops it.
  void reject(unsigned long long tag);

  // Message properties as micro-integration headers: content-type, correlation-id,
  // message-id, and every entry of the AMQP headers table (non-string values as text).
  using Headers = std::map<std::string, std::string>;

  // Publisher confirms: after this, publish_confirmed() returns only once the broker has
  // taken responsibility for the message.
  void enable_confirms();
  // Persistent, mandatory publish; throws RabbitError if the broker refuses it (nack), cannot
  // route it (return, code 312), or does not confirm within `timeout`.
  void publish_confirmed(const std::string& exchange, const std::string& routing_key, const std::string& body,
                         const Headers& headers, Millis timeout);

  // Pipelined publishing: publish() sends a persistent, mandatory message without waiting and
  // returns its confirm sequence number; await_confirms() then collects the broker's answers.
  unsigned long long publish(const std::string& exchange, const std::string& routing_key, const std::string& body,
                             const Headers& headers);
  // publish(), sent only if `fence` (null: none) is still open once the message is written
  // (see common/fenced_write.h). nullopt if it closed meanwhile: the connection has then been
  // reset, so the message never reaches the broker, and this object is unusable.
  std::optional<unsigned long long> publish_fenced(const FencingGate* fence, const std::string& exchange,
                                                   const std::string& routing_key, const std::string& body,
                                                   const Headers& headers);
  struct Confirm {
    enum Kind { kPending, kAck, kReturned, kNack } kind = kPending;
    std::string text;  // for kReturned: the broker's reason
  };
  struct Confirms {
    std::vector<Confirm> each;  // for first .. first + count - 1
    // Set if the channel or connection failed (or time ran out) before every answer came:
    // the connection is then unusable, and kPending entries are of unknown fate.
    std::optional<RabbitError> lost;
    // The fence closed while answers were missing (`lost` is set too). The caller must drop
    // the connection: the messages may still be on their way and must not arrive late.
    bool fenced = false;
  };
  // Waits up to `timeout`, and with a `fence` no longer than it stays open.
  Confirms await_confirms(unsigned long long first, std::size_t count, Millis timeout,
                          const FencingGate* fence = nullptr);

  struct Event {
    // kOversized: a delivery whose body is larger than max_body_size(); its body was read off
    // the socket frame by frame and dropped, never held (`body` is empty, `body_size` says how
    // large it was). The caller settles it like any delivery.
    enum Kind { kNothing, kDelivery, kOversized } kind = kNothing;
    unsigned long long tag = 0;
    std::string body;
    Headers headers;
    // The broker delivered this message to a consumer before (which did not ack it).
    bool redelivered = false;
    std::uint64_t body_size = 0;
  };
  // Waits up to `timeout` for a delivery; throws RabbitError if the flow is gone (consumer
  // cancelled, channel or connection closed, heartbeat timeout).
  Event next_event(Millis timeout);

  // The largest message body next_event() holds; rabbitmq-c's own reader would allocate
  // whatever size a content header announces. Default: RabbitMQ's own default
  // max_message_size, 128 MiB.
  static constexpr std::uint64_t kDefaultMaxBodySize = 128ULL << 20;
  void set_max_body_size(std::uint64_t bytes) { max_body_size_ = bytes; }
  std::uint64_t max_body_size() const { return max_body_size_; }

 private:
  void check_reply(amqp_rpc_reply_t reply, const std::string& what);
  void open_channel();
  // The content (header and body frames) of the delivery whose basic.deliver is `deliver`.
  Event read_delivery(const amqp_frame_t& deliver);

  // The constructor's work: opens the socket, logs in and opens the channel.
  void connect(const config::BrokerAddress& address, const config::SessionSettings& settings, Millis rpc_timeout);

  amqp_connection_state_t conn_ = nullptr;
  amqp_channel_t channel_ = 0;
  unsigned long long next_publish_tag_ = 1;  // publisher-confirm sequence on this channel
  std::string consumed_queue_;               // for the error when the broker cancels the consumer
  std::uint64_t max_body_size_ = kDefaultMaxBodySize;
};

}  // namespace mi::amqp

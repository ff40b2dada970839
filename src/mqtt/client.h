#pragma once
// A small, blocking MQTT 5.0 client over one connection, without internal threads.
//
// Unlike libmosquitto, which acknowledges a QoS 1 message before the application has seen it,
// this client sends PUBACK only when acknowledge() is called: a message that was received but
// not acknowledged is redelivered (with DUP) when a client with the same client id reconnects
// with clean_start = false while its session lasts. That is what at-least-once needs.
//
// Not thread-safe: one thread uses one Client. Keep-alive (PINGREQ) is sent from inside the
// blocking calls, so call receive() (or another call) at least every keep_alive_seconds / 2.
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/fencing_gate.h"

#include "mqtt/packet.h"

struct ssl_st;
struct ssl_ctx_st;

namespace mi::mqtt {

struct ClientOptions {
  std::string host;
  int port = 1883;
  std::string client_id;  // empty: the broker assigns one (only with clean_start)
  std::string username;   // empty: none
  std::string password;   // sent only with a user name; never appears in messages
  bool clean_start = false;                          // false: resume the persistent session
  std::uint32_t session_expiry_seconds = 0xFFFFFFFF;  // 0xFFFFFFFF: the session never expires
  std::uint16_t keep_alive_seconds = 30;              // 0: no keep-alive
  bool tls = false;
  std::string ca_file;  // with tls: PEM CA certificates to verify the broker (empty: system store)
  // Connecting, the handshake, and how long a PINGRESP may take before the connection is
  // considered dead.
  std::chrono::milliseconds io_timeout{5000};
  // Unacknowledged QoS 1 messages the broker may have in flight to us (Receive Maximum).
  std::uint16_t receive_maximum = 1000;
  // Largest packet we accept; the broker is told (Maximum Packet Size) and a bigger packet is
  // an error rather than an allocation.
  std::uint32_t max_packet_size = 16 * 1024 * 1024;
  // Topic aliases the broker may use towards us (Topic Alias Maximum).
  std::uint16_t topic_alias_maximum = 64;
};

struct PublishProperties {
  std::string content_type;      // empty: not sent
  std::string correlation_data;  // empty: not sent
  std::vector<std::pair<std::string, std::string>> user_properties;
  bool retain = false;
};

struct Publication {
  std::string topic;
  std::string payload;
  std::uint8_t qos = 0;
  bool dup = false;  // a redelivery (for QoS 1)
  bool retain = false;
  std::uint16_t packet_id = 0;  // 0 for QoS 0
  std::string content_type;
  std::string correlation_data;
  std::vector<std::pair<std::string, std::string>> user_properties;
  std::size_t user_properties_left_out = 0;  // past kMaxUserProperties (packet.h)
  std::uint64_t connection = 0;  // which Client received it; acknowledge() checks it
};

class Client {
 public:
  // Connects (TCP, TLS if options.tls), sends CONNECT and waits for CONNACK; throws MqttError
  // (reason 0 for network/TLS failures, the CONNACK reason code if the broker refuses).
  explicit Client(ClientOptions options);
  ~Client();  // drops the connection without DISCONNECT (like a crash; the session remains)
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool session_present() const { return session_present_; }
  const std::string& client_id() const { return client_id_; }  // the assigned one if empty
  bool connected() const { return fd_ >= 0; }

  // Subscribes with QoS 0 or 1; throws MqttError with the SUBACK reason code if refused.
  void subscribe(const std::string& filter, int qos);

  // Removes a subscription; the session stays. Throws MqttError if the broker refuses.
  void unsubscribe(const std::string& filter);
  // CONNACK's Shared Subscription Available (absent means available).
  bool shared_subscriptions_available() const { return shared_subscriptions_available_; }

  // The next publication, or nothing after `timeout`. Handles keep-alive and PUBACKs for our
  // own publishes meanwhile. Throws MqttError once the connection is gone (the Client is then
  // unusable; make a new one).
  std::optional<Publication> receive(std::chrono::milliseconds timeout);

  // Sends PUBACK for a QoS 1 publication now (no-op for QoS 0). Never happens automatically.
  // Throws std::logic_error for a publication of another connection or one acknowledged before.
  void acknowledge(const Publication& publication);

  // QoS 0: sends, returns 0. QoS 1: sends and returns the packet id without waiting for PUBACK;
  // waits (reading, buffering incoming publications) only while the broker's Receive Maximum
  // of unacknowledged publishes is reached. Publications without PUBACK are not re-sent by
  // this class after a reconnect: the caller publishes them again. With a `fence`, the
  // publication leaves only if the fence is still open once it is written
  // (common/fenced_write.h); if not, the connection is reset and Fenced thrown.
  std::uint16_t publish(const std::string& topic, const std::string& payload, int qos,
                        const PublishProperties& properties = {}, const FencingGate* fence = nullptr);

  // Waits for the PUBACKs of `ids` (0 is ignored). Throws MqttError naming the topic and reason
  // if any PUBACK carries a reason >= 0x80, or reason 0 after `timeout`; Fenced if `fence`
  // (may be null) closes first. Publications that arrive meanwhile are kept for receive().
  void wait_for_acks(std::span<const std::uint16_t> ids, std::chrono::milliseconds timeout,
                     const FencingGate* fence = nullptr);

  // Graceful DISCONNECT (the session remains for session_expiry_seconds), then closes.
  void disconnect();
  // Drops the connection at once with a TCP reset, which discards whatever the kernel has
  // not delivered yet: a publication given up on behind a cut link is never delivered late
  // (a plain close would keep retransmitting it once the link heals).
  void abort();

 private:

  void open_socket();
  void tls_handshake(SteadyTime deadline);
  void send_packet(const Packet& packet);
  void write_all(const std::vector<std::uint8_t>& bytes, SteadyTime deadline);
  // Reads what is available, waiting until `deadline`; false on timeout. Throws on EOF/error.
  bool read_some(SteadyTime deadline);
  // One complete packet from the input buffer, if there is one.
  std::optional<Packet> next_buffered_packet();
  // Waits for and handles incoming packets until `deadline`, sending PINGREQ when due;
  // returns true as soon as one packet was handled.
  bool pump(SteadyTime deadline);
  void handle(Packet packet);
  // Waits (io_timeout) for the SUBACK or UNSUBACK of `packet_id` in `replies`; throws
  // MqttError saying "MQTT broker <refused>: <reason>" if its first reason code is a failure.
  template <typename Reply>
  Reply await_reply(std::map<std::uint16_t, Reply>& replies, std::uint16_t packet_id, const char* reply_name,
                    const std::string& filter, const std::string& refused);
  void check_open();
  [[noreturn]] void fail(const MqttError& error);
  enum class Close { kGraceful, kReset };
  void close_socket(Close how = Close::kGraceful);
  std::uint16_t next_packet_id();

  ClientOptions options_;
  std::uint64_t connection_serial_;
  int fd_ = -1;
  ssl_ctx_st* ssl_ctx_ = nullptr;
  ssl_st* ssl_ = nullptr;
  std::string closed_reason_;
  std::vector<std::uint8_t> in_;  // bytes read but not yet decoded

  std::string client_id_;
  bool session_present_ = false;
  std::uint16_t keep_alive_seconds_ = 0;
  std::uint16_t server_receive_maximum_ = 65535;
  std::uint32_t server_max_packet_size_ = static_cast<std::uint32_t>(kMaxPacketSize);
  std::uint8_t server_maximum_qos_ = 1;
  bool shared_subscriptions_available_ = true;
  SteadyTime last_sent_;
  std::optional<SteadyTime> ping_sent_;

  std::deque<Publication> received_;
  std::set<std::uint16_t> unacknowledged_;           // incoming QoS 1 ids we have not acknowledged
  std::map<std::uint16_t, std::string> topic_aliases_by_id_;
  std::map<std::uint16_t, std::string> in_flight_;   // our QoS 1 publishes: id -> topic
  struct Completed {
    std::string topic;
    std::uint8_t reason = 0;
    std::string reason_string;
  };
  std::map<std::uint16_t, Completed> completed_;     // PUBACKs not yet collected by wait_for_acks
  std::map<std::uint16_t, Suback> subacks_;
  std::map<std::uint16_t, Unsuback> unsubacks_;
  std::uint16_t last_packet_id_ = 0;
};

}  // namespace mi::mqtt

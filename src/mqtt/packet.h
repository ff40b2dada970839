#pragma once
// MQTT 5.0 control packets: pure encoding and decoding, no I/O. Every decoder checks its bounds
// and throws MqttError for malformed input, so the codec can be fed arbitrary bytes (fuzzing).
//
// Supported packets: CONNECT (without a will message), CONNACK, PUBLISH, PUBACK/PUBREC/PUBREL/
// PUBCOMP, SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT and AUTH.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace mi::mqtt {

// `reason_code` is the MQTT reason code the failure carries: the broker's code for a refused
// CONNECT, SUBSCRIBE or PUBLISH, 0x81 for a malformed packet, 0x82 for a protocol error, 0x95
// for a packet that is too large, and 0 for network and local errors.
class MqttError : public std::runtime_error {
 public:
  MqttError(int reason_code, const std::string& message) : std::runtime_error(message), reason_code_(reason_code) {}
  int reason_code() const { return reason_code_; }

 private:
  int reason_code_;
};

// The fencing gate closed. Thrown by wait_for_acks() while PUBACKs were missing (the caller
// should abort() the client), and by publish() once a publication was written but before it
// left (the connection is already reset; the publication never reaches the broker).
class Fenced : public MqttError {
 public:
  using MqttError::MqttError;
};

namespace reason {
inline constexpr std::uint8_t kSuccess = 0x00;
inline constexpr std::uint8_t kUnspecifiedError = 0x80;
inline constexpr std::uint8_t kMalformedPacket = 0x81;
inline constexpr std::uint8_t kProtocolError = 0x82;
inline constexpr std::uint8_t kBadUserNameOrPassword = 0x86;
inline constexpr std::uint8_t kNotAuthorized = 0x87;
inline constexpr std::uint8_t kKeepAliveTimeout = 0x8D;
inline constexpr std::uint8_t kTopicAliasInvalid = 0x94;
inline constexpr std::uint8_t kPacketTooLarge = 0x95;
inline constexpr std::uint8_t kQosNotSupported = 0x9B;
}  // namespace reason

// "not authorized", "packet too large", ...; "reason 0xNN" for codes MQTT 5 does not define.
std::string reason_code_name(std::uint8_t code);

enum class PacketType : std::uint8_t {
  kConnect = 1, kConnack, kPublish, kPuback, kPubrec, kPubrel, kPubcomp, kSubscribe,
  kSuback, kUnsubscribe, kUnsuback, kPingreq, kPingresp, kDisconnect, kAuth,
};
const char* packet_type_name(PacketType type);

// The largest remaining length a fixed header can express (4 bytes of variable byte integer).
inline constexpr std::uint32_t kMaxRemainingLength = 268'435'455;
// The largest whole packet (fixed header included) MQTT can express.
inline constexpr std::size_t kMaxPacketSize = kMaxRemainingLength + 5;

// MQTT 5 properties. Only the ones a packet carries are set; encoding writes every set one.
// At most this many user properties of one packet are kept.
inline constexpr std::size_t kMaxUserProperties = 1000;

struct Properties {
  std::optional<std::uint8_t> payload_format_indicator;      // 0x01
  std::optional<std::uint32_t> message_expiry_interval;      // 0x02
  std::optional<std::string> content_type;                   // 0x03
  std::optional<std::string> response_topic;                 // 0x08
  std::optional<std::string> correlation_data;               // 0x09 (binary)
  std::vector<std::uint32_t> subscription_identifiers;       // 0x0B (repeatable)
  std::optional<std::uint32_t> session_expiry_interval;      // 0x11
  std::optional<std::string> assigned_client_identifier;     // 0x12
  std::optional<std::uint16_t> server_keep_alive;            // 0x13
  std::optional<std::string> authentication_method;          // 0x15
  std::optional<std::string> authentication_data;            // 0x16 (binary)
  std::optional<std::uint8_t> request_problem_information;   // 0x17
  std::optional<std::uint32_t> will_delay_interval;          // 0x18
  std::optional<std::uint8_t> request_response_information;  // 0x19
  std::optional<std::string> response_information;           // 0x1A
  std::optional<std::string> server_reference;               // 0x1C
  std::optional<std::string> reason_string;                  // 0x1F
  std::optional<std::uint16_t> receive_maximum;              // 0x21
  std::optional<std::uint16_t> topic_alias_maximum;          // 0x22
  std::optional<std::uint16_t> topic_alias;                  // 0x23
  std::optional<std::uint8_t> maximum_qos;                   // 0x24
  std::optional<std::uint8_t> retain_available;              // 0x25
  std::vector<std::pair<std::string, std::string>> user_properties;  // 0x26 (repeatable, ordered)
  // User properties past kMaxUserProperties: checked, counted, not kept. (A 16 MiB packet
  // holds 3 million empty ones, each a pair of strings here: 200 MB held for 16 MB read.)
  std::size_t user_properties_left_out = 0;
  std::optional<std::uint32_t> maximum_packet_size;          // 0x27
  std::optional<std::uint8_t> wildcard_subscription_available;       // 0x28
  std::optional<std::uint8_t> subscription_identifiers_available;    // 0x29
  std::optional<std::uint8_t> shared_subscription_available;         // 0x2A

  bool operator==(const Properties&) const = default;
};

struct Connect {
  std::string client_id;
  std::optional<std::string> username;
  std::optional<std::string> password;  // binary data in MQTT 5
  bool clean_start = false;
  std::uint16_t keep_alive_seconds = 0;
  Properties properties;
  bool operator==(const Connect&) const = default;
};

struct Connack {
  bool session_present = false;
  std::uint8_t reason_code = 0;
  Properties properties;
  bool operator==(const Connack&) const = default;
};

struct Publish {
  std::string topic;    // may be empty when properties.topic_alias is set
  std::string payload;  // binary
  std::uint8_t qos = 0;
  bool dup = false;
  bool retain = false;
  std::uint16_t packet_id = 0;  // 0 for QoS 0
  Properties properties;
  bool operator==(const Publish&) const = default;
};

// PUBACK, PUBREC, PUBREL and PUBCOMP share one layout.
struct PubAck {
  PacketType type = PacketType::kPuback;
  std::uint16_t packet_id = 0;
  std::uint8_t reason_code = 0;
  Properties properties;
  bool operator==(const PubAck&) const = default;
};

struct Subscription {
  std::string filter;
  std::uint8_t qos = 0;
  bool no_local = false;
  bool retain_as_published = false;
  std::uint8_t retain_handling = 0;  // 0..2
  bool operator==(const Subscription&) const = default;
};

struct Subscribe {
  std::uint16_t packet_id = 0;
  std::vector<Subscription> subscriptions;  // at least one
  Properties properties;
  bool operator==(const Subscribe&) const = default;
};

struct Suback {
  std::uint16_t packet_id = 0;
  std::vector<std::uint8_t> reason_codes;  // one per subscription: granted QoS or an error >= 0x80
  Properties properties;
  bool operator==(const Suback&) const = default;
};

struct Unsubscribe {
  std::uint16_t packet_id = 0;
  std::vector<std::string> filters;  // at least one
  Properties properties;
  bool operator==(const Unsubscribe&) const = default;
};

struct Unsuback {
  std::uint16_t packet_id = 0;
  std::vector<std::uint8_t> reason_codes;  // one per filter: 0 (removed), 0x11 (there was none) or an error >= 0x80
  Properties properties;
  bool operator==(const Unsuback&) const = default;
};

struct PingReq {
  bool operator==(const PingReq&) const = default;
};
struct PingResp {
  bool operator==(const PingResp&) const = default;
};

struct Disconnect {
  std::uint8_t reason_code = 0;
  Properties properties;
  bool operator==(const Disconnect&) const = default;
};

struct Auth {
  std::uint8_t reason_code = 0;
  Properties properties;
  bool operator==(const Auth&) const = default;
};

using Packet = std::variant<Connect, Connack, Publish, PubAck, Subscribe, Suback, Unsubscribe, Unsuback, PingReq,
                            PingResp, Disconnect, Auth>;

// Appends the variable byte integer encoding of `value` (at most kMaxRemainingLength).
void encode_varint(std::uint32_t value, std::vector<std::uint8_t>& out);
// Decodes a variable byte integer at the start of `data`: {value, bytes used}, or nothing if
// `data` ends before the integer does. Throws MqttError (malformed) for more than 4 bytes.
std::optional<std::pair<std::uint32_t, std::size_t>> decode_varint(std::span<const std::uint8_t> data);

// The whole packet, fixed header included. Throws MqttError if a field does not fit (a string
// over 65535 bytes, a packet over kMaxRemainingLength) or a value is invalid (QoS 3, ...).
std::vector<std::uint8_t> encode(const Packet& packet);

// The fixed header at the start of a byte stream.
struct FrameHeader {
  std::uint8_t first_byte = 0;     // packet type << 4 | flags
  std::size_t header_size = 0;     // 2..5
  std::size_t remaining_length = 0;
  std::size_t packet_size() const { return header_size + remaining_length; }
};
// Reads the fixed header at the start of `data`; nothing if more bytes are needed to know it.
// Throws MqttError: malformed (reason 0x81) for a bad length encoding or packet type, or packet
// too large (0x95) if the whole packet would exceed `max_packet_size` - before anything of that
// size is allocated or read.
std::optional<FrameHeader> parse_frame_header(std::span<const std::uint8_t> data, std::size_t max_packet_size);

// Decodes exactly one complete packet (fixed header included) occupying all of `data`.
// Throws MqttError (0x81 malformed, 0x82 protocol error, 0x95 too large) for anything else,
// including truncated input and trailing bytes.
Packet decode_packet(std::span<const std::uint8_t> data, std::size_t max_packet_size = kMaxPacketSize);

}  // namespace mi::mqtt

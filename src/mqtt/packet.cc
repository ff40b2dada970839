#include "mqtt/packet.h"

#include <cstdio>

namespace mi::mqtt {
namespace {

[[noreturn]] void malformed(const std::string& what) {
  throw MqttError(reason::kMalformedPacket, "malformed MQTT packet: " + what);
}

[[noreturn]] void protocol_error(const std::string& what) {
  throw MqttError(reason::kProtocolError, "MQTT protocol error: " + what);
}

[[noreturn]] void cannot_encode(const std::string& what) { throw MqttError(0, "cannot encode MQTT packet: " + what); }

// Well-formed UTF-8 without U+0000, surrogates or overlong forms (MQTT 5 section 1.5.4).
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == 0) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1Fu;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0Fu;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07u;
    } else {
      return false;
    }
    if (s.size() - i <= n) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)) return false;  // overlong
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

bool has_wildcard(std::string_view topic) { return topic.find_first_of("+#") != std::string_view::npos; }

// ---------------------------------------------------------------------------------------------
// Reading: every accessor checks the bounds of the span it reads from.

class Reader {
 public:
  Reader(std::span<const std::uint8_t> data, const char* packet) : data_(data), packet_(packet) {}

  bool empty() const { return pos_ == data_.size(); }
  std::size_t remaining() const { return data_.size() - pos_; }

  std::uint8_t u8(const char* field) {
    need(1, field);
    return data_[pos_++];
  }
  std::uint16_t u16(const char* field) {
    need(2, field);
    const auto v = static_cast<std::uint16_t>((data_[pos_] << 8) | data_[pos_ + 1]);
    pos_ += 2;
    return v;
  }
  std::uint32_t u32(const char* field) {
    need(4, field);
    std::uint32_t v = 0;
    for (int k = 0; k < 4; ++k) v = (v << 8) | data_[pos_++];
    return v;
  }
  std::uint32_t varint(const char* field) {
    const auto r = decode_varint(data_.subspan(pos_));
    if (!r) fail(std::string("truncated ") + field);
    pos_ += r->second;
    return r->first;
  }
  std::string binary(const char* field) {
    const std::size_t n = u16(field);
    need(n, field);
    std::string s(reinterpret_cast<const char*>(data_.data() + pos_), n);
    pos_ += n;
    return s;
  }
  std::string utf8(const char* field) {
    std::string s = binary(field);
    if (!valid_utf8(s)) fail(std::string(field) + " is not valid UTF-8");
    return s;
  }
  std::string rest() {
    std::string s(reinterpret_cast<const char*>(data_.data() + pos_), remaining());
    pos_ = data_.size();
    return s;
  }
  Reader sub(std::size_t n, const char* field) {
    need(n, field);
    Reader r(data_.subspan(pos_, n), packet_);
    pos_ += n;
    return r;
  }
  void expect_end() {
    if (!empty()) fail(std::to_string(remaining()) + " unexpected trailing bytes");
  }
  [[noreturn]] void fail(const std::string& what) const { malformed(std::string(packet_) + ": " + what); }

 private:
  void need(std::size_t n, const char* field) const {
    if (remaining() < n) fail(std::string("truncated ") + field);
  }

  std::span<const std::uint8_t> data_;
  std::size_t pos_ = 0;
  const char* packet_;
};

template <typename T>
void set_once(std::optional<T>& slot, T value, Reader& r, int id) {
  if (slot) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "property 0x%02X appears twice", static_cast<unsigned>(id));
    r.fail(buf);
  }
  slot = std::move(value);
}

void check_bool(std::uint8_t v, Reader& r, const char* name) {
  if (v > 1) r.fail(std::string(name) + " must be 0 or 1");
}

Properties read_properties(Reader& in) {
  Properties p;
  const std::uint32_t length = in.varint("property length");
  Reader r = in.sub(length, "properties");
  while (!r.empty()) {
    const std::uint32_t id = r.varint("property identifier");
    // The many one-byte 0/1 properties, and the integers for which 0 is not allowed.
    const auto flag = [&](std::optional<std::uint8_t>& slot, const char* name) {
      const auto v = r.u8(name);
      check_bool(v, r, name);
      set_once(slot, v, r, static_cast<int>(id));
    };
    const auto nonzero = [&](auto& slot, auto value, const char* name) {
      if (value == 0) r.fail(std::string(name) + " 0");
      set_once(slot, value, r, static_cast<int>(id));
    };
    switch (id) {
      case 0x01: flag(p.payload_format_indicator, "payload format indicator"); break;
      case 0x02: set_once(p.message_expiry_interval, r.u32("message expiry interval"), r, 0x02); break;
      case 0x03: set_once(p.content_type, r.utf8("content type"), r, 0x03); break;
      case 0x08: set_once(p.response_topic, r.utf8("response topic"), r, 0x08); break;
      case 0x09: set_once(p.correlation_data, r.binary("correlation data"), r, 0x09); break;
      case 0x0B: {
        const auto v = r.varint("subscription identifier");
        if (v == 0) r.fail("subscription identifier 0");
        p.subscription_identifiers.push_back(v);
        break;
      }
      case 0x11: set_once(p.session_expiry_interval, r.u32("session expiry interval"), r, 0x11); break;
      case 0x12: set_once(p.assigned_client_identifier, r.utf8("assigned client identifier"), r, 0x12); break;
      case 0x13: set_once(p.server_keep_alive, r.u16("server keep alive"), r, 0x13); break;
      case 0x15: set_once(p.authentication_method, r.utf8("authentication method"), r, 0x15); break;
      case 0x16: set_once(p.authentication_data, r.binary("authentication data"), r, 0x16); break;
      case 0x17: flag(p.request_problem_information, "request problem information"); break;
      case 0x18: set_once(p.will_delay_interval, r.u32("will delay interval"), r, 0x18); break;
      case 0x19: flag(p.request_response_information, "request response information"); break;
      case 0x1A: set_once(p.response_information, r.utf8("response information"), r, 0x1A); break;
      case 0x1C: set_once(p.server_reference, r.utf8("server reference"), r, 0x1C); break;
      case 0x1F: set_once(p.reason_string, r.utf8("reason string"), r, 0x1F); break;
      case 0x21: nonzero(p.receive_maximum, r.u16("receive maximum"), "receive maximum"); break;
      case 0x22: set_once(p.topic_alias_maximum, r.u16("topic alias maximum"), r, 0x22); break;
      case 0x23: nonzero(p.topic_alias, r.u16("topic alias"), "topic alias"); break;
      case 0x24: flag(p.maximum_qos, "maximum QoS"); break;
      case 0x25: flag(p.retain_available, "retain available"); break;
      case 0x26: {
        std::string key = r.utf8("user property name");
        std::string value = r.utf8("user property value");
        if (p.user_properties.size() < kMaxUserProperties) {
          p.user_properties.emplace_back(std::move(key), std::move(value));
        } else {
          ++p.user_properties_left_out;
        }
        break;
      }
      case 0x27: nonzero(p.maximum_packet_size, r.u32("maximum packet size"), "maximum packet size"); break;
      case 0x28: flag(p.wildcard_subscription_available, "wildcard subscription available"); break;
      case 0x29: flag(p.subscription_identifiers_available, "subscription identifiers available"); break;
      case 0x2A: flag(p.shared_subscription_available, "shared subscription available"); break;
      default: {
        char buf[64];
        std::snprintf(buf, sizeof buf, "unknown property identifier 0x%X", static_cast<unsigned>(id));
        r.fail(buf);
      }
    }
  }
  return p;
}

// ---------------------------------------------------------------------------------------------
// Writing.

class Writer {
 public:
  void u8(std::uint8_t v) { out_.push_back(v); }
  void u16(std::uint16_t v) {
    out_.push_back(static_cast<std::uint8_t>(v >> 8));
    out_.push_back(static_cast<std::uint8_t>(v & 0xFF));
  }
  void u32(std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out_.push_back(static_cast<std::uint8_t>((v >> shift) & 0xFF));
  }
  void varint(std::uint32_t v) {
    if (v > kMaxRemainingLength) cannot_encode("variable byte integer " + std::to_string(v) + " too large");
    encode_varint(v, out_);
  }
  void binary(std::string_view s, const char* field) {
    if (s.size() > 0xFFFF) cannot_encode(std::string(field) + " longer than 65535 bytes");
    u16(static_cast<std::uint16_t>(s.size()));
    out_.insert(out_.end(), s.begin(), s.end());
  }
  void utf8(std::string_view s, const char* field) {
    if (!valid_utf8(s)) cannot_encode(std::string(field) + " is not valid UTF-8");
    binary(s, field);
  }
  void raw(std::string_view s) { out_.insert(out_.end(), s.begin(), s.end()); }
  void raw(const std::vector<std::uint8_t>& v) { out_.insert(out_.end(), v.begin(), v.end()); }
  std::vector<std::uint8_t>& bytes() { return out_; }

 private:
  std::vector<std::uint8_t> out_;
};

void write_properties(Writer& w, const Properties& p) {
  Writer b;
  if (p.payload_format_indicator) b.u8(0x01), b.u8(*p.payload_format_indicator);
  if (p.message_expiry_interval) b.u8(0x02), b.u32(*p.message_expiry_interval);
  if (p.content_type) b.u8(0x03), b.utf8(*p.content_type, "content type");
  if (p.response_topic) b.u8(0x08), b.utf8(*p.response_topic, "response topic");
  if (p.correlation_data) b.u8(0x09), b.binary(*p.correlation_data, "correlation data");
  for (const auto id : p.subscription_identifiers) b.u8(0x0B), b.varint(id);
  if (p.session_expiry_interval) b.u8(0x11), b.u32(*p.session_expiry_interval);
  if (p.assigned_client_identifier) b.u8(0x12), b.utf8(*p.assigned_client_identifier, "assigned client identifier");
  if (p.server_keep_alive) b.u8(0x13), b.u16(*p.server_keep_alive);
  if (p.authentication_method) b.u8(0x15), b.utf8(*p.authentication_method, "authentication method");
  if (p.authentication_data) b.u8(0x16), b.binary(*p.authentication_data, "authentication data");
  if (p.request_problem_information) b.u8(0x17), b.u8(*p.request_problem_information);
  if (p.will_delay_interval) b.u8(0x18), b.u32(*p.will_delay_interval);
  if (p.request_response_information) b.u8(0x19), b.u8(*p.request_response_information);
  if (p.response_information) b.u8(0x1A), b.utf8(*p.response_information, "response information");
  if (p.server_reference) b.u8(0x1C), b.utf8(*p.server_reference, "server reference");
  if (p.reason_string) b.u8(0x1F), b.utf8(*p.reason_string, "reason string");
  if (p.receive_maximum) b.u8(0x21), b.u16(*p.receive_maximum);
  if (p.topic_alias_maximum) b.u8(0x22), b.u16(*p.topic_alias_maximum);
  if (p.topic_alias) b.u8(0x23), b.u16(*p.topic_alias);
  if (p.maximum_qos) b.u8(0x24), b.u8(*p.maximum_qos);
  if (p.retain_available) b.u8(0x25), b.u8(*p.retain_available);
  for (const auto& [k, v] : p.user_properties) {
    b.u8(0x26);
    b.utf8(k, "user property name");
    b.utf8(v, "user property value");
  }
  if (p.maximum_packet_size) b.u8(0x27), b.u32(*p.maximum_packet_size);
  if (p.wildcard_subscription_available) b.u8(0x28), b.u8(*p.wildcard_subscription_available);
  if (p.subscription_identifiers_available) b.u8(0x29), b.u8(*p.subscription_identifiers_available);
  if (p.shared_subscription_available) b.u8(0x2A), b.u8(*p.shared_subscription_available);
  if (b.bytes().size() > kMaxRemainingLength) cannot_encode("properties too large");
  w.varint(static_cast<std::uint32_t>(b.bytes().size()));
  w.raw(b.bytes());
}

std::vector<std::uint8_t> frame(std::uint8_t first_byte, Writer& body) {
  const auto& b = body.bytes();
  if (b.size() > kMaxRemainingLength) cannot_encode("packet of " + std::to_string(b.size()) + " bytes too large");
  std::vector<std::uint8_t> out;
  out.reserve(b.size() + 5);
  out.push_back(first_byte);
  encode_varint(static_cast<std::uint32_t>(b.size()), out);
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

std::uint8_t first_byte(PacketType type, std::uint8_t flags = 0) {
  return static_cast<std::uint8_t>((static_cast<unsigned>(type) << 4) | flags);
}

struct Encoder {
  std::vector<std::uint8_t> operator()(const Connect& c) const {
    Writer w;
    w.utf8("MQTT", "protocol name");
    w.u8(5);
    std::uint8_t flags = 0;
    if (c.username) flags |= 0x80;
    if (c.password) flags |= 0x40;
    if (c.clean_start) flags |= 0x02;
    w.u8(flags);
    w.u16(c.keep_alive_seconds);
    write_properties(w, c.properties);
    w.utf8(c.client_id, "client identifier");
    if (c.username) w.utf8(*c.username, "user name");
    if (c.password) w.binary(*c.password, "password");
    return frame(first_byte(PacketType::kConnect), w);
  }
  std::vector<std::uint8_t> operator()(const Connack& c) const {
    Writer w;
    w.u8(c.session_present ? 1 : 0);
    w.u8(c.reason_code);
    write_properties(w, c.properties);
    return frame(first_byte(PacketType::kConnack), w);
  }
  std::vector<std::uint8_t> operator()(const Publish& p) const {
    if (p.qos > 2) cannot_encode("QoS " + std::to_string(p.qos));
    if (p.qos == 0 && (p.dup || p.packet_id != 0)) cannot_encode("QoS 0 PUBLISH with DUP or packet identifier");
    if (p.qos > 0 && p.packet_id == 0) cannot_encode("QoS " + std::to_string(p.qos) + " PUBLISH without packet identifier");
    if (has_wildcard(p.topic)) cannot_encode("topic name '" + p.topic + "' contains a wildcard");
    if (p.topic.empty() && !p.properties.topic_alias) cannot_encode("empty topic name");
    Writer w;
    w.utf8(p.topic, "topic name");
    if (p.qos > 0) w.u16(p.packet_id);
    write_properties(w, p.properties);
    w.raw(p.payload);
    const auto flags = static_cast<std::uint8_t>((p.dup ? 0x08 : 0) | (p.qos << 1) | (p.retain ? 0x01 : 0));
    return frame(first_byte(PacketType::kPublish, flags), w);
  }
  std::vector<std::uint8_t> operator()(const PubAck& a) const {
    if (a.type != PacketType::kPuback && a.type != PacketType::kPubrec && a.type != PacketType::kPubrel &&
        a.type != PacketType::kPubcomp) {
      cannot_encode("acknowledgement of type " + std::string(packet_type_name(a.type)));
    }
    if (a.packet_id == 0) cannot_encode("packet identifier 0");
    Writer w;
    w.u16(a.packet_id);
    if (a.reason_code != 0 || a.properties != Properties{}) {
      w.u8(a.reason_code);
      if (a.properties != Properties{}) write_properties(w, a.properties);
    }
    return frame(first_byte(a.type, a.type == PacketType::kPubrel ? 0x02 : 0), w);
  }
  std::vector<std::uint8_t> operator()(const Subscribe& s) const {
    if (s.packet_id == 0) cannot_encode("packet identifier 0");
    if (s.subscriptions.empty()) cannot_encode("SUBSCRIBE without a topic filter");
    Writer w;
    w.u16(s.packet_id);
    write_properties(w, s.properties);
    for (const auto& sub : s.subscriptions) {
      if (sub.filter.empty()) cannot_encode("empty topic filter");
      if (sub.qos > 2 || sub.retain_handling > 2) cannot_encode("invalid subscription options");
      w.utf8(sub.filter, "topic filter");
      w.u8(static_cast<std::uint8_t>(sub.qos | (sub.no_local ? 0x04 : 0) | (sub.retain_as_published ? 0x08 : 0) |
                                     (sub.retain_handling << 4)));
    }
    return frame(first_byte(PacketType::kSubscribe, 0x02), w);
  }
  std::vector<std::uint8_t> operator()(const Suback& s) const { return reason_codes_reply(PacketType::kSuback, s); }
  std::vector<std::uint8_t> operator()(const Unsubscribe& u) const {
    if (u.packet_id == 0) cannot_encode("packet identifier 0");
    if (u.filters.empty()) cannot_encode("UNSUBSCRIBE without a topic filter");
    Writer w;
    w.u16(u.packet_id);
    write_properties(w, u.properties);
    for (const auto& filter : u.filters) {
      if (filter.empty()) cannot_encode("empty topic filter");
      w.utf8(filter, "topic filter");
    }
    return frame(first_byte(PacketType::kUnsubscribe, 0x02), w);
  }
  std::vector<std::uint8_t> operator()(const Unsuback& u) const { return reason_codes_reply(PacketType::kUnsuback, u); }
  std::vector<std::uint8_t> operator()(const PingReq&) const { return {first_byte(PacketType::kPingreq), 0}; }
  std::vector<std::uint8_t> operator()(const PingResp&) const { return {first_byte(PacketType::kPingresp), 0}; }
  std::vector<std::uint8_t> operator()(const Disconnect& d) const { return reason_only(PacketType::kDisconnect, d.reason_code, d.properties); }
  std::vector<std::uint8_t> operator()(const Auth& a) const { return reason_only(PacketType::kAuth, a.reason_code, a.properties); }

  static std::vector<std::uint8_t> reason_only(PacketType type, std::uint8_t code, const Properties& properties) {
    Writer w;
    if (code != 0 || properties != Properties{}) {
      w.u8(code);
      if (properties != Properties{}) write_properties(w, properties);
    }
    return frame(first_byte(type), w);
  }

  // SUBACK and UNSUBACK: packet id, properties, one reason code per topic filter.
  template <typename Reply>
  static std::vector<std::uint8_t> reason_codes_reply(PacketType type, const Reply& reply) {
    if (reply.packet_id == 0) cannot_encode("packet identifier 0");
    if (reply.reason_codes.empty()) cannot_encode(std::string(packet_type_name(type)) + " without a reason code");
    Writer w;
    w.u16(reply.packet_id);
    write_properties(w, reply.properties);
    for (const auto code : reply.reason_codes) w.u8(code);
    return frame(first_byte(type), w);
  }
};

// ---------------------------------------------------------------------------------------------
// Decoding packet bodies.

Connect decode_connect(Reader& r) {
  if (r.utf8("protocol name") != "MQTT") r.fail("protocol name is not MQTT");
  const auto level = r.u8("protocol level");
  if (level != 5) protocol_error("unsupported protocol level " + std::to_string(level));
  const auto flags = r.u8("connect flags");
  if (flags & 0x01) r.fail("reserved connect flag set");
  if (flags & 0x04) protocol_error("will messages are not supported");
  if (flags & 0x38) r.fail("will QoS/retain set without a will flag");
  Connect c;
  c.clean_start = (flags & 0x02) != 0;
  c.keep_alive_seconds = r.u16("keep alive");
  c.properties = read_properties(r);
  c.client_id = r.utf8("client identifier");
  if (flags & 0x80) c.username = r.utf8("user name");
  if (flags & 0x40) c.password = r.binary("password");
  return c;
}

Connack decode_connack(Reader& r) {
  Connack c;
  const auto flags = r.u8("acknowledge flags");
  if (flags & 0xFE) r.fail("reserved acknowledge flags set");
  c.session_present = flags & 0x01;
  c.reason_code = r.u8("reason code");
  c.properties = read_properties(r);
  return c;
}

Publish decode_publish(Reader& r, std::uint8_t flags) {
  Publish p;
  p.dup = (flags & 0x08) != 0;
  p.qos = static_cast<std::uint8_t>((flags >> 1) & 0x03);
  p.retain = (flags & 0x01) != 0;
  if (p.qos == 3) r.fail("QoS 3");
  if (p.qos == 0 && p.dup) r.fail("DUP set on a QoS 0 message");
  p.topic = r.utf8("topic name");
  if (has_wildcard(p.topic)) r.fail("topic name contains a wildcard");
  if (p.qos > 0) {
    p.packet_id = r.u16("packet identifier");
    if (p.packet_id == 0) r.fail("packet identifier 0");
  }
  p.properties = read_properties(r);
  if (p.topic.empty() && !p.properties.topic_alias) protocol_error("PUBLISH with neither a topic name nor a topic alias");
  p.payload = r.rest();
  return p;
}

PubAck decode_puback(Reader& r, PacketType type) {
  PubAck a;
  a.type = type;
  a.packet_id = r.u16("packet identifier");
  if (a.packet_id == 0) r.fail("packet identifier 0");
  if (!r.empty()) a.reason_code = r.u8("reason code");
  if (!r.empty()) a.properties = read_properties(r);
  return a;
}

Subscribe decode_subscribe(Reader& r) {
  Subscribe s;
  s.packet_id = r.u16("packet identifier");
  if (s.packet_id == 0) r.fail("packet identifier 0");
  s.properties = read_properties(r);
  while (!r.empty()) {
    Subscription sub;
    sub.filter = r.utf8("topic filter");
    if (sub.filter.empty()) r.fail("empty topic filter");
    const auto options = r.u8("subscription options");
    if (options & 0xC0) r.fail("reserved subscription option bits set");
    sub.qos = options & 0x03;
    sub.no_local = (options & 0x04) != 0;
    sub.retain_as_published = (options & 0x08) != 0;
    sub.retain_handling = static_cast<std::uint8_t>((options >> 4) & 0x03);
    if (sub.qos == 3 || sub.retain_handling == 3) r.fail("invalid subscription options");
    s.subscriptions.push_back(std::move(sub));
  }
  if (s.subscriptions.empty()) protocol_error("SUBSCRIBE without a topic filter");
  return s;
}

// SUBACK and UNSUBACK: packet id, properties, one reason code per topic filter.
template <typename Reply>
Reply decode_reason_codes_reply(Reader& r, const char* name) {
  Reply reply;
  reply.packet_id = r.u16("packet identifier");
  if (reply.packet_id == 0) r.fail("packet identifier 0");
  reply.properties = read_properties(r);
  while (!r.empty()) reply.reason_codes.push_back(r.u8("reason code"));
  if (reply.reason_codes.empty()) protocol_error(std::string(name) + " without a reason code");
  return reply;
}

template <typename T>
T decode_reason_only(Reader& r) {
  T t;
  if (!r.empty()) t.reason_code = r.u8("reason code");
  if (!r.empty()) t.properties = read_properties(r);
  return t;
}

}  // namespace

std::string reason_code_name(std::uint8_t code) {
  switch (code) {
    case 0x00: return "success";
    case 0x01: return "granted QoS 1";
    case 0x02: return "granted QoS 2";
    case 0x04: return "disconnect with will message";
    case 0x10: return "no matching subscribers";
    case 0x11: return "no subscription existed";
    case 0x18: return "continue authentication";
    case 0x19: return "re-authenticate";
    case 0x80: return "unspecified error";
    case 0x81: return "malformed packet";
    case 0x82: return "protocol error";
    case 0x83: return "implementation specific error";
    case 0x84: return "unsupported protocol version";
    case 0x85: return "client identifier not valid";
    case 0x86: return "bad user name or password";
    case 0x87: return "not authorized";
    case 0x88: return "server unavailable";
    case 0x89: return "server busy";
    case 0x8A: return "banned";
    case 0x8B: return "server shutting down";
    case 0x8C: return "bad authentication method";
    case 0x8D: return "keep alive timeout";
    case 0x8E: return "session taken over";
    case 0x8F: return "topic filter invalid";
    case 0x90: return "topic name invalid";
    case 0x91: return "packet identifier in use";
    case 0x92: return "packet identifier not found";
    case 0x93: return "receive maximum exceeded";
    case 0x94: return "topic alias invalid";
    case 0x95: return "packet too large";
    case 0x96: return "message rate too high";
    case 0x97: return "quota exceeded";
    case 0x98: return "administrative action";
    case 0x99: return "payload format invalid";
    case 0x9A: return "retain not supported";
    case 0x9B: return "QoS not supported";
    case 0x9C: return "use another server";
    case 0x9D: return "server moved";
    case 0x9E: return "shared subscriptions not supported";
    case 0x9F: return "connection rate exceeded";
    case 0xA0: return "maximum connect time";
    case 0xA1: return "subscription identifiers not supported";
    case 0xA2: return "wildcard subscriptions not supported";
    default: {
      char buf[16];
      std::snprintf(buf, sizeof buf, "reason 0x%02X", static_cast<unsigned>(code));
      return buf;
    }
  }
}

const char* packet_type_name(PacketType type) {
  switch (type) {
    case PacketType::kConnect: return "CONNECT";
    case PacketType::kConnack: return "CONNACK";
    case PacketType::kPublish: return "PUBLISH";
    case PacketType::kPuback: return "PUBACK";
    case PacketType::kPubrec: return "PUBREC";
    case PacketType::kPubrel: return "PUBREL";
    case PacketType::kPubcomp: return "PUBCOMP";
    case PacketType::kSubscribe: return "SUBSCRIBE";
    case PacketType::kSuback: return "SUBACK";
    case PacketType::kUnsubscribe: return "UNSUBSCRIBE";
    case PacketType::kUnsuback: return "UNSUBACK";
    case PacketType::kPingreq: return "PINGREQ";
    case PacketType::kPingresp: return "PINGRESP";
    case PacketType::kDisconnect: return "DISCONNECT";
    case PacketType::kAuth: return "AUTH";
  }
  return "unknown";
}

void encode_varint(std::uint32_t value, std::vector<std::uint8_t>& out) {
  do {
    auto byte = static_cast<std::uint8_t>(value & 0x7F);
    value >>= 7;
    if (value > 0) byte |= 0x80;
    out.push_back(byte);
  } while (value > 0);
}

std::optional<std::pair<std::uint32_t, std::size_t>> decode_varint(std::span<const std::uint8_t> data) {
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    if (i >= data.size()) return std::nullopt;
    value |= static_cast<std::uint32_t>(data[i] & 0x7F) << (7 * i);
    if ((data[i] & 0x80) == 0) return std::make_pair(value, i + 1);
  }
  malformed("variable byte integer longer than 4 bytes");
}

std::vector<std::uint8_t> encode(const Packet& packet) { return std::visit(Encoder{}, packet); }

std::optional<FrameHeader> parse_frame_header(std::span<const std::uint8_t> data, std::size_t max_packet_size) {
  if (data.empty()) return std::nullopt;
  const std::uint8_t first = data[0];
  const unsigned type = first >> 4;
  if (type == 0) malformed("packet type 0 (reserved)");
  const auto length = decode_varint(data.subspan(1));
  if (!length) return std::nullopt;
  FrameHeader h;
  h.first_byte = first;
  h.header_size = 1 + length->second;
  h.remaining_length = length->first;
  if (h.packet_size() > max_packet_size) {
    throw MqttError(reason::kPacketTooLarge, "incoming " + std::string(packet_type_name(static_cast<PacketType>(type))) +
                                                 " packet of " + std::to_string(h.packet_size()) +
                                                 " bytes exceeds the maximum packet size of " +
                                                 std::to_string(max_packet_size) + " bytes");
  }
  return h;
}

Unsubscribe decode_unsubscribe(Reader& r) {
  Unsubscribe u;
  u.packet_id = r.u16("packet identifier");
  if (u.packet_id == 0) r.fail("packet identifier 0");
  u.properties = read_properties(r);
  while (!r.empty()) {
    u.filters.push_back(r.utf8("topic filter"));
    if (u.filters.back().empty()) r.fail("empty topic filter");
  }
  if (u.filters.empty()) protocol_error("UNSUBSCRIBE without a topic filter");
  return u;
}

Packet decode_packet(std::span<const std::uint8_t> data, std::size_t max_packet_size) {
  const auto header = parse_frame_header(data, max_packet_size);
  if (!header) malformed("truncated fixed header");
  if (data.size() != header->packet_size()) {
    malformed("remaining length " + std::to_string(header->remaining_length) + " does not match the " +
              std::to_string(data.size() - header->header_size) + " bytes that follow the fixed header");
  }
  const auto type = static_cast<PacketType>(header->first_byte >> 4);
  const auto flags = static_cast<std::uint8_t>(header->first_byte & 0x0F);
  const std::uint8_t expected_flags =
      (type == PacketType::kPubrel || type == PacketType::kSubscribe || type == PacketType::kUnsubscribe) ? 0x02 : 0x00;
  if (type != PacketType::kPublish && flags != expected_flags) {
    malformed(std::string("invalid fixed header flags for ") + packet_type_name(type));
  }
  Reader r(data.subspan(header->header_size), packet_type_name(type));
  Packet result;
  switch (type) {
    case PacketType::kConnect: result = decode_connect(r); break;
    case PacketType::kConnack: result = decode_connack(r); break;
    case PacketType::kPublish: result = decode_publish(r, flags); break;
    case PacketType::kPuback:
    case PacketType::kPubrec:
    case PacketType::kPubrel:
    case PacketType::kPubcomp: result = decode_puback(r, type); break;
    case PacketType::kSubscribe: result = decode_subscribe(r); break;
    case PacketType::kSuback: result = decode_reason_codes_reply<Suback>(r, "SUBACK"); break;
    case PacketType::kUnsubscribe: result = decode_unsubscribe(r); break;
    case PacketType::kUnsuback: result = decode_reason_codes_reply<Unsuback>(r, "UNSUBACK"); break;
    case PacketType::kPingreq: result = PingReq{}; break;
    case PacketType::kPingresp: result = PingResp{}; break;
    case PacketType::kDisconnect: result = decode_reason_only<Disconnect>(r); break;
    case PacketType::kAuth: result = decode_reason_only<Auth>(r); break;
    default: protocol_error(std::string(packet_type_name(type)) + " packets are not supported");
  }
  r.expect_end();
  return result;
}

}  // namespace mi::mqtt

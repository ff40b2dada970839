#include "mqtt/packet.h"

#include <gtest/gtest.h>

#include <random>

namespace mi::mqtt {
namespace {

using Bytes = std::vector<std::uint8_t>;

Packet round_trip(const Packet& packet) {
  const Bytes bytes = encode(packet);
  return decode_packet(bytes);
}

int reason_of(const Bytes& bytes, std::size_t max_packet_size = kMaxPacketSize) {
  try {
    decode_packet(bytes, max_packet_size);
  } catch (const MqttError& e) {
    return e.reason_code();
  }
  return -1;
}

TEST(MqttVarint, EncodesBoundaryValuesInTheMinimumNumberOfBytes) {
  const std::vector<std::pair<std::uint32_t, Bytes>> cases = {
      {0, {0x00}},
      {127, {0x7F}},
      {128, {0x80, 0x01}},
      {16383, {0xFF, 0x7F}},
      {16384, {0x80, 0x80, 0x01}},
      {2097151, {0xFF, 0xFF, 0x7F}},
      {2097152, {0x80, 0x80, 0x80, 0x01}},
      {kMaxRemainingLength, {0xFF, 0xFF, 0xFF, 0x7F}},
  };
  for (const auto& [value, bytes] : cases) {
    Bytes out;
    encode_varint(value, out);
    EXPECT_EQ(out, bytes) << value;
    const auto decoded = decode_varint(bytes);
    ASSERT_TRUE(decoded) << value;
    EXPECT_EQ(decoded->first, value);
    EXPECT_EQ(decoded->second, bytes.size());
  }
}

TEST(MqttVarint, IncompleteNeedsMoreBytesAndFiveBytesAreMalformed) {
  EXPECT_FALSE(decode_varint(Bytes{}));
  EXPECT_FALSE(decode_varint(Bytes{0x80}));
  EXPECT_FALSE(decode_varint(Bytes{0xFF, 0xFF, 0xFF}));
  try {
    decode_varint(Bytes{0xFF, 0xFF, 0xFF, 0xFF, 0x01});
    FAIL() << "expected MqttError";
  } catch (const MqttError& e) {
    EXPECT_EQ(e.reason_code(), reason::kMalformedPacket);
  }
}

TEST(MqttPacket, ConnectEncodesTheMqtt5Header) {
  Connect c;
  c.client_id = "id";
  c.clean_start = true;
  c.keep_alive_seconds = 30;
  const Bytes bytes = encode(c);
  const Bytes expected = {0x10, 15, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 30, 0, 0, 2, 'i', 'd'};
  EXPECT_EQ(bytes, expected);
}

TEST(MqttPacket, ConnectRoundTripsWithCredentialsAndProperties) {
  Connect c;
  c.client_id = "client-1";
  c.username = "user";
  c.password = std::string("p\0ss", 4);
  c.keep_alive_seconds = 60;
  c.properties.session_expiry_interval = 0xFFFFFFFF;
  c.properties.receive_maximum = 100;
  c.properties.maximum_packet_size = 1 << 20;
  c.properties.topic_alias_maximum = 10;
  EXPECT_EQ(std::get<Connect>(round_trip(c)), c);
}

TEST(MqttPacket, PublishRoundTripsWithProperties) {
  Publish p;
  p.topic = "a/b/c";
  p.payload = std::string("\0\1binary\xff", 10);
  p.qos = 1;
  p.dup = true;
  p.retain = true;
  p.packet_id = 4711;
  p.properties.content_type = "application/json";
  p.properties.correlation_data = std::string("\0corr", 5);
  p.properties.user_properties = {{"k", "v1"}, {"k", "v2"}, {"ü", ""}};
  p.properties.message_expiry_interval = 60;
  p.properties.subscription_identifiers = {1, 300000};
  EXPECT_EQ(std::get<Publish>(round_trip(p)), p);

  Publish q0;
  q0.topic = "t";
  q0.payload = "";
  EXPECT_EQ(std::get<Publish>(round_trip(q0)), q0);
}

// A producer's packet with more user properties than are kept: the first kMaxUserProperties
// arrive in order, the rest are counted, and the packet is still taken (not malformed).
TEST(MqttPacket, UserPropertiesPastTheBoundAreCountedNotKept) {
  Publish p;
  p.topic = "t";
  p.qos = 1;
  p.packet_id = 7;
  p.payload = "body";
  for (std::size_t i = 0; i < kMaxUserProperties + 1500; ++i) {
    p.properties.user_properties.emplace_back("k" + std::to_string(i), "");
  }
  const Publish got = std::get<Publish>(round_trip(p));
  ASSERT_EQ(got.properties.user_properties.size(), kMaxUserProperties);
  EXPECT_EQ(got.properties.user_properties.back().first, "k" + std::to_string(kMaxUserProperties - 1));
  EXPECT_EQ(got.properties.user_properties_left_out, 1500u);
  EXPECT_EQ(got.payload, "body");
}

TEST(MqttPacket, PublishWithTopicAliasAndEmptyTopic) {
  Publish p;
  p.topic = "";
  p.qos = 1;
  p.packet_id = 1;
  p.properties.topic_alias = 3;
  EXPECT_EQ(std::get<Publish>(round_trip(p)), p);
  p.properties.topic_alias.reset();
  EXPECT_THROW(encode(p), MqttError);
}

TEST(MqttPacket, AcknowledgementsRoundTripInShortAndLongForm) {
  PubAck short_form{PacketType::kPuback, 7, 0, {}};
  EXPECT_EQ(encode(short_form), (Bytes{0x40, 2, 0, 7}));
  EXPECT_EQ(std::get<PubAck>(round_trip(short_form)), short_form);

  PubAck refused{PacketType::kPuback, 8, reason::kNotAuthorized, {}};
  refused.properties.reason_string = "no access";
  EXPECT_EQ(std::get<PubAck>(round_trip(refused)), refused);

  // A 3-byte PUBACK (reason code, no property length) is valid.
  const auto decoded = std::get<PubAck>(decode_packet(Bytes{0x40, 3, 0, 9, 0x10}));
  EXPECT_EQ(decoded.packet_id, 9);
  EXPECT_EQ(decoded.reason_code, 0x10);

  PubAck pubrel{PacketType::kPubrel, 10, 0, {}};
  EXPECT_EQ(encode(pubrel)[0], 0x62);
  EXPECT_EQ(std::get<PubAck>(round_trip(pubrel)), pubrel);
}

TEST(MqttPacket, ConnackSubscribeSubackDisconnectRoundTrip) {
  Connack ca;
  ca.session_present = true;
  ca.properties.receive_maximum = 20;
  ca.properties.server_keep_alive = 10;
  ca.properties.assigned_client_identifier = "auto-1";
  ca.properties.maximum_qos = 1;
  ca.properties.topic_alias_maximum = 10;
  EXPECT_EQ(std::get<Connack>(round_trip(ca)), ca);

  Subscribe s;
  s.packet_id = 2;
  s.subscriptions = {{"a/#", 1, true, true, 2}, {"b/+", 0, false, false, 0}};
  s.properties.subscription_identifiers = {5};
  EXPECT_EQ(std::get<Subscribe>(round_trip(s)), s);

  Suback sa;
  sa.packet_id = 2;
  sa.reason_codes = {1, reason::kNotAuthorized};
  sa.properties.reason_string = "denied";
  EXPECT_EQ(std::get<Suback>(round_trip(sa)), sa);

  Unsubscribe u;
  u.packet_id = 3;
  u.filters = {"$share/g/a/#", "b/+"};
  // Fixed header 0xA2 (type 10, flags 0b0010), as MQTT 5 section 3.10.1 requires.
  EXPECT_EQ(encode(u).front(), 0xA2);
  EXPECT_EQ(std::get<Unsubscribe>(round_trip(u)), u);

  Unsuback ua;
  ua.packet_id = 3;
  ua.reason_codes = {0, 0x11};
  EXPECT_EQ(std::get<Unsuback>(round_trip(ua)), ua);
  // An UNSUBACK must carry a reason code per filter; none is a protocol error.
  EXPECT_THROW(decode_packet(Bytes{0xB0, 3, 0, 3, 0}), MqttError);

  Disconnect d;
  EXPECT_EQ(encode(d), (Bytes{0xE0, 0}));
  EXPECT_EQ(std::get<Disconnect>(round_trip(d)), d);
  d.reason_code = 0x8B;
  d.properties.reason_string = "bye";
  EXPECT_EQ(std::get<Disconnect>(round_trip(d)), d);

  EXPECT_EQ(encode(PingReq{}), (Bytes{0xC0, 0}));
  EXPECT_TRUE(std::holds_alternative<PingResp>(decode_packet(Bytes{0xD0, 0})));
  Auth a{0x18, {}};
  a.properties.authentication_method = "SCRAM";
  EXPECT_EQ(std::get<Auth>(round_trip(a)), a);
}

TEST(MqttPacket, LargePayloadUsesAFourByteRemainingLength) {
  Publish p;
  p.topic = "big";
  p.payload.assign(3'000'000, 'x');
  const Bytes bytes = encode(p);
  EXPECT_EQ(bytes[1] & 0x80, 0x80);
  EXPECT_EQ(bytes[4] & 0x80, 0x00);
  EXPECT_EQ(std::get<Publish>(decode_packet(bytes)), p);
}

TEST(MqttPacket, TruncatedPacketsThrowMalformed) {
  Publish p;
  p.topic = "topic";
  p.payload = "payload";
  p.qos = 1;
  p.packet_id = 1;
  p.properties.content_type = "text/plain";
  p.properties.user_properties = {{"a", "b"}};
  const Bytes full = encode(p);
  // Every prefix is incomplete: either no fixed header or fewer bytes than it announces.
  for (std::size_t n = 0; n < full.size(); ++n) {
    const Bytes prefix(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_EQ(reason_of(prefix), reason::kMalformedPacket) << n;
  }
  // The same body with a remaining length that cuts into each field.
  for (std::size_t cut = 0; cut < full.size() - 2; ++cut) {
    Bytes b = {full[0], static_cast<std::uint8_t>(cut)};
    b.insert(b.end(), full.begin() + 2, full.begin() + 2 + static_cast<std::ptrdiff_t>(cut));
    const int r = reason_of(b);
    EXPECT_TRUE(r == reason::kMalformedPacket || r == reason::kProtocolError || r == -1) << cut;
  }
}

TEST(MqttPacket, MalformedPacketsThrow) {
  const std::vector<Bytes> bad = {
      {0x00, 0x00},                                      // reserved packet type 0
      {0x30, 0x03, 0x00, 0x05, 'a'},                     // topic length beyond the packet
      {0x36, 0x05, 0x00, 0x01, 't', 0x00, 0x01},         // QoS 3
      {0x38, 0x04, 0x00, 0x01, 't', 0x00},               // DUP on QoS 0
      {0x32, 0x05, 0x00, 0x01, 't', 0x00, 0x00},         // QoS 1, truncated properties / packet id 0
      {0x30, 0x05, 0x00, 0x01, '#', 0x00, 'x'},          // wildcard in a topic name
      {0x30, 0x04, 0x00, 0x01, 0xC0, 0x00},              // invalid UTF-8 (overlong)
      {0x30, 0x04, 0x00, 0x01, 0x00, 0x00},              // U+0000 in a topic
      {0x30, 0x06, 0x00, 0x01, 't', 0x02, 0x7F, 0x00},   // unknown property 0x7F
      {0x30, 0x07, 0x00, 0x01, 't', 0x03, 0x23, 0x00, 0x00},   // topic alias 0
      {0x30, 0x07, 0x00, 0x01, 't', 0x05, 0x03, 0x00, 0x01},   // property length beyond the packet
      {0x30, 0x09, 0x00, 0x01, 't', 0x04, 0x01, 0x01, 0x01, 0x00, 0x00},  // property given twice
      {0x42, 0x02, 0x00, 0x01},                          // PUBACK with flags
      {0x40, 0x02, 0x00, 0x00},                          // PUBACK packet id 0
      {0x40, 0x01, 0x00},                                // PUBACK truncated
      {0xD0, 0x01, 0x00},                                // PINGRESP with a body
      {0x20, 0x03, 0x02, 0x00, 0x00},                    // CONNACK reserved flag
      {0x90, 0x03, 0x00, 0x01, 0x00},                    // SUBACK without reason codes
      {0x82, 0x04, 0x00, 0x01, 0x00, 0x00},              // SUBSCRIBE truncated filter
      {0xA2, 0x00},                                      // UNSUBSCRIBE: not supported
      {0xE0, 0x02, 0x00, 0x05},                          // DISCONNECT: property length beyond
      {0x40, 0x02, 0x00, 0x01, 0x00},                    // trailing byte after the packet
      {0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01},              // remaining length of 5 bytes
  };
  for (const auto& b : bad) {
    const int r = reason_of(b);
    EXPECT_TRUE(r == reason::kMalformedPacket || r == reason::kProtocolError)
        << "reason " << r << " for packet starting 0x" << std::hex << int{b[0]} << " size " << std::dec << b.size();
  }
}

TEST(MqttPacket, OversizedPacketIsRejectedFromItsHeaderAlone) {
  // A header announcing 200 MB: rejected without the body being present or allocated.
  const Bytes header = {0x30, 0x80, 0x80, 0x80, 0x60};
  try {
    parse_frame_header(header, 1 << 20);
    FAIL() << "expected MqttError";
  } catch (const MqttError& e) {
    EXPECT_EQ(e.reason_code(), reason::kPacketTooLarge);
    EXPECT_NE(std::string(e.what()).find("exceeds the maximum packet size"), std::string::npos) << e.what();
  }
  EXPECT_EQ(reason_of(header, 1 << 20), reason::kPacketTooLarge);

  Publish p;
  p.topic = "t";
  p.payload.assign(100, 'x');
  const Bytes bytes = encode(p);
  EXPECT_EQ(reason_of(bytes, bytes.size() - 1), reason::kPacketTooLarge);
  EXPECT_NO_THROW(decode_packet(bytes, bytes.size()));

  // Incomplete headers need more bytes rather than failing.
  EXPECT_FALSE(parse_frame_header(Bytes{0x30}, 100));
  EXPECT_FALSE(parse_frame_header(Bytes{0x30, 0x80}, 1 << 20));
}

TEST(MqttPacket, EncodingRejectsWhatCannotBeSent) {
  Publish p;
  p.topic = std::string(70000, 'a');
  EXPECT_THROW(encode(p), MqttError);
  p.topic = "a/+";
  EXPECT_THROW(encode(p), MqttError);
  p.topic = "a";
  p.qos = 1;  // without packet id
  EXPECT_THROW(encode(p), MqttError);
  p.qos = 3;
  p.packet_id = 1;
  EXPECT_THROW(encode(p), MqttError);
}

TEST(MqttPacket, RandomBytesAndMutationsNeverCrash) {
  std::mt19937 rng(12345);
  Publish p;
  p.topic = "x/y";
  p.payload = "hello";
  p.qos = 1;
  p.packet_id = 3;
  p.properties.correlation_data = "c";
  p.properties.user_properties = {{"n", "v"}};
  const Bytes seed = encode(p);
  for (int i = 0; i < 20000; ++i) {
    Bytes b = seed;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) b[rng() % b.size()] = static_cast<std::uint8_t>(rng());
    try {
      const Packet decoded = decode_packet(b, 1 << 16);
      (void)encode(decoded);  // anything decoded can be encoded again
    } catch (const MqttError&) {
    }
  }
  for (int i = 0; i < 20000; ++i) {
    Bytes b(rng() % 40);
    for (auto& c : b) c = static_cast<std::uint8_t>(rng());
    try {
      (void)decode_packet(b, 1 << 16);
    } catch (const MqttError&) {
    }
  }
}

TEST(MqttPacket, ReasonCodeNames) {
  EXPECT_EQ(reason_code_name(0x87), "not authorized");
  EXPECT_EQ(reason_code_name(0x86), "bad user name or password");
  EXPECT_EQ(reason_code_name(0xFE), "reason 0xFE");
}

}  // namespace
}  // namespace mi::mqtt

// The MQTT 5 packet codec (src/mqtt/packet.cc) on arbitrary bytes from a broker: decoding
// either yields a packet or throws MqttError; a decoded packet must encode again and decode
// to the same bytes (the codec does not invent or drop fields).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "mqtt/packet.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mi::mqtt;
  Packet packet;
  try {
    packet = decode_packet(std::span<const std::uint8_t>(data, size), 1 << 20);
  } catch (const MqttError&) {
    return 0;  // malformed input is rejected: the expected outcome
  }
  std::vector<std::uint8_t> again;
  try {
    again = encode(packet);
  } catch (const MqttError&) {
    return 0;  // decodable but not something we would send (e.g. a server-only packet)
  }
  const Packet reread = decode_packet(again, 1 << 20);
  if (encode(reread) != again) {
    std::fprintf(stderr, "MQTT packet does not survive decode -> encode -> decode\n");
    std::abort();
  }
  return 0;
}

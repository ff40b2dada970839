#pragma once
// Text a peer sent us (a broker's close reason, an MQTT reason string, a protocol error that
// quotes the bytes received) on its way into a log line or an API answer: control characters
// become \xNN, so a peer cannot forge log lines with a newline or move the terminal with an
// escape sequence, and it is cut at `max_bytes`, so garbage cannot fill the log.
#include <cstddef>
#include <string>
#include <string_view>

namespace mi {

inline constexpr std::size_t kMaxPeerTextBytes = 300;

std::string printable(std::string_view text, std::size_t max_bytes = kMaxPeerTextBytes);

}  // namespace mi

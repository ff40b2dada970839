#include "common/printable.h"

#include <cstdio>

namespace mi {

std::string printable(std::string_view text, std::size_t max_bytes) {
  std::string out;
  const std::size_t shown = text.size() > max_bytes ? max_bytes : text.size();
  out.reserve(shown);
  for (std::size_t i = 0; i < shown; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) {
      char escaped[5];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
      out += escaped;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (shown < text.size()) out += "... (" + std::to_string(text.size()) + " bytes)";
  return out;
}

}  // namespace mi

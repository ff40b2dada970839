#include "config/relaxed_name.h"

#include <array>
#include <cctype>

namespace mi::config {

std::string canonical_segment(std::string_view segment) {
  std::string out;
  out.reserve(segment.size());
  for (char c : segment) {
    if (c == '-' || c == '_') continue;
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

std::vector<std::string> split_key(std::string_view canonical) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= canonical.size()) {
    size_t dot = canonical.find('.', start);
    if (dot == std::string_view::npos) dot = canonical.size();
    parts.emplace_back(canonical.substr(start, dot - start));
    start = dot + 1;
  }
  return parts;
}

std::string canonical_key(std::string_view key) {
  // `a[0].b` and `a.0.b` are the same key; empty segments (`a..b`) are dropped.
  std::string out;
  std::string segment;
  auto flush = [&] {
    if (segment.empty()) return;
    if (!out.empty()) out.push_back('.');
    out += canonical_segment(segment);
    segment.clear();
  };
  for (char c : key) {
    if (c == '.' || c == '[' || c == ']') {
      flush();
    } else {
      segment.push_back(c);
    }
  }
  flush();
  return out;
}

std::optional<std::string> key_from_environment_variable(std::string_view name) {
  static constexpr std::array<std::string_view, 4> roots = {"SOLACE_", "SPRING_", "SERVER_",
                                                            "LOGGING_"};
  bool ours = false;
  for (auto root : roots) ours = ours || name.substr(0, root.size()) == root;
  if (!ours) return std::nullopt;
  std::string key;
  for (char c : name) {
    key.push_back(c == '_' ? '.' : static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return canonical_key(key);
}

bool is_secret_key(std::string_view canonical) {
  // Any segment, not only the last: `client-password[0]` (a list where the password belongs)
  // is as secret as `client-password`.
  static constexpr std::array<std::string_view, 8> endings = {
      "password", "passwd", "secret", "token", "passphrase", "credentials", "apikey", "privatekey"};
  size_t start = 0;
  while (start <= canonical.size()) {
    const size_t dot = canonical.find('.', start);
    const std::string_view segment = canonical.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    for (auto e : endings) {
      if (segment.size() >= e.size() && segment.substr(segment.size() - e.size()) == e) return true;
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return false;
}

}  // namespace mi::config

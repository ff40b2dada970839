#include "log_lines.h"

#include <ctime>
#include <sstream>

namespace mi::integration {

namespace {

// The decimal number in line[pos, pos + len), or -1 if those are not all digits.
long long digits(const std::string& line, size_t pos, size_t len) {
  long long value = 0;
  for (size_t i = pos; i < pos + len; ++i) {
    if (line[i] < '0' || line[i] > '9') return -1;
    value = value * 10 + (line[i] - '0');
  }
  return value;
}

}  // namespace

long long log_time_ms(const std::string& line) {
  std::tm tm{};
  if (line.size() < 29 || !strptime(line.substr(0, 19).c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return -1;
  const long long ms = digits(line, 20, 3), hours = digits(line, 24, 2), minutes = digits(line, 27, 2);
  if (line[19] != '.' || ms < 0 || hours < 0 || minutes < 0 || (line[23] != '+' && line[23] != '-')) return -1;
  const long long offset = (line[23] == '-' ? -1 : 1) * (hours * 60 + minutes) * 60;
  return (static_cast<long long>(timegm(&tm)) - offset) * 1000 + ms;
}

long long first_log_time(const std::string& log, const std::string& text, long long after_ms) {
  std::istringstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(text) == std::string::npos) continue;
    const long long t = log_time_ms(line);
    if (t >= after_ms) return t;
  }
  return -1;
}

long long now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace mi::integration

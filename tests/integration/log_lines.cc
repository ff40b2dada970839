#include "log_lines.h"

#include <ctime>
#include <sstream>

namespace mi::integration {

long long log_time_ms(const std::string& line) {
  std::tm tm{};
  if (line.size() < 29 || !strptime(line.substr(0, 19).c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return -1;
  const long long ms = std::stoll(line.substr(20, 3));
  const int sign = line[23] == '-' ? -1 : 1;
  const long long offset = sign * (std::stoll(line.substr(24, 2)) * 60 + std::stoll(line.substr(27, 2))) * 60;
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

#include "log_lines.h"

#include <algorithm>

#include <cstdlib>
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

std::vector<ActiveTerm> active_terms(const std::string& log, long long end_if_open) {
  static const std::string kFlowActive = "management session: flow active", kEpoch = "epoch ";
  std::vector<ActiveTerm> terms;
  std::istringstream in(log);
  std::string line;
  bool open = false;
  ActiveTerm term{};
  while (std::getline(in, line)) {
    const long long t = log_time_ms(line);
    if (t < 0) continue;
    if (!open) {
      const auto flow = line.find(kFlowActive);
      if (flow == std::string::npos) continue;
      const auto epoch = line.find(kEpoch, flow);
      term = {t, -1, epoch == std::string::npos ? -1 : std::atoll(line.c_str() + epoch + kEpoch.size()), -1};
      open = true;
    } else if (line.find("state is now active") != std::string::npos) {
      if (term.running_ms < 0) term.running_ms = t;
    } else if (line.find("flow inactive") != std::string::npos || line.find("state is now standby") != std::string::npos) {
      term.to_ms = t;
      terms.push_back(term);
      open = false;
    }
  }
  if (open) {
    term.to_ms = end_if_open;
    terms.push_back(term);
  }
  return terms;
}

long long now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::vector<std::string> overlapping_terms(std::vector<ActiveTerm> terms) {
  std::sort(terms.begin(), terms.end(), [](const auto& a, const auto& b) { return a.from_ms < b.from_ms; });
  std::vector<std::string> out;
  for (size_t i = 1; i < terms.size(); ++i) {
    const ActiveTerm& before = terms[i - 1];
    const ActiveTerm& after = terms[i];
    if (before.to_ms <= after.from_ms) continue;
    out.push_back("epoch " + std::to_string(before.epoch) + " active [" + std::to_string(before.from_ms) + ", " +
                  std::to_string(before.to_ms) + "] and epoch " + std::to_string(after.epoch) + " active [" +
                  std::to_string(after.from_ms) + ", " + std::to_string(after.to_ms) + "]");
  }
  return out;
}

bool flow_active_at_end(const std::string& log) {
  const auto active = log.rfind("management session: flow active");
  if (active == std::string::npos) return false;
  const auto inactive = log.rfind("flow inactive");
  return inactive == std::string::npos || inactive < active;
}

}  // namespace mi::integration

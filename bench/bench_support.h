#pragma once
// What the benchmarks share: CPU and memory of processes from /proc, filling a queue fast,
// reading its depth, and steering a workflow through the management API.
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/integration/instance.h"
#include "tests/integration/rabbit_broker.h"

namespace mi::bench {

using integration::connect_to_rabbit;
using integration::Instance;

inline constexpr size_t kPayloadBytes = 1024;

struct Cpu {
  double user = 0;
  double system = 0;
  double total() const { return user + system; }
  Cpu operator-(const Cpu& o) const { return {user - o.user, system - o.system}; }
};

// CPU seconds (user, system) of every process in process group `group`, or of `pid` alone.
inline Cpu cpu_seconds(pid_t group, pid_t pid = -1) {
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  Cpu total;
  DIR* proc = opendir("/proc");
  while (dirent* e = readdir(proc)) {
    const pid_t p = static_cast<pid_t>(std::atoi(e->d_name));
    if (p <= 0 || (pid > 0 && p != pid)) continue;
    std::ifstream in("/proc/" + std::to_string(p) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(stat.substr(close + 2));
    std::string f[13];
    for (auto& x : f) fields >> x;  // state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    if (pid <= 0 && std::atoi(f[2].c_str()) != group) continue;
    total.user += std::atof(f[11].c_str()) / ticks;
    total.system += std::atof(f[12].c_str()) / ticks;
  }
  closedir(proc);
  return total;
}

// A "VmRSS:" / "VmHWM:" line of /proc/<pid>/status, in KiB.
inline long status_kib(pid_t pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  const size_t n = std::strlen(field);
  while (std::getline(in, line))
    if (line.compare(0, n, field) == 0) return std::atol(line.c_str() + n);
  return 0;
}
inline long resident_kib(pid_t pid) { return status_kib(pid, "VmRSS:"); }
inline double mib(long kib) { return static_cast<double>(kib) / 1024.0; }

inline void preload(int port, const std::string& queue, int count) {
  auto c = connect_to_rabbit(port);
  c->enable_confirms();
  const std::string payload(kPayloadBytes, 'p');
  for (int done = 0; done < count;) {
    const int n = std::min(500, count - done);
    unsigned long long first = 0;
    for (int i = 0; i < n; ++i) {
      const auto tag = c->publish("", queue, payload, {{"content-type", "application/octet-stream"}});
      if (i == 0) first = tag;
    }
    auto confirms = c->await_confirms(first, static_cast<size_t>(n), mi::Millis{30000});
    if (confirms.lost) throw *confirms.lost;
    done += n;
  }
  c->close_gracefully();
}

inline unsigned queue_depth(int port, const std::string& queue) {
  auto c = connect_to_rabbit(port);
  const unsigned n = c->declare_passive(queue).messages;
  c->close_gracefully();
  return n;
}

inline bool post_state(Instance& instance, int workflow, const char* state) {
  auto client = instance.client(integration::kAdminUser, integration::kAdminPassword);
  auto res = client.Post("/actuator/workflows/" + std::to_string(workflow),
                         std::string("{\"state\":\"") + state + "\"}", "application/json");
  return res && res->status / 100 == 2;
}

}  // namespace mi::bench

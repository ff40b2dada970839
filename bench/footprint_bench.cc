// Footprint and speed of the release binary on this machine:
//   1. start-up: fork/exec to the first HTTP 200 from GET /actuator/health (and to workflow 0
//      running), with one rabbit -> rabbit workflow against a private RabbitMQ, and with only
//      a file workflow (no broker);
//   2. resident memory (VmRSS) idle after start, and at its peak while a rabbit -> rabbit
//      workflow (publish-async, 255 in flight) moves persistent 1 KiB messages;
//   3. CPU (user + system) of micro-integration per 1,000 messages moved in that run;
//   4. the management API under load with wrk (-t2 -c16 --latency), on an idle instance.
//
//   footprint_bench [starts=20] [messages=50000] [wrk-seconds=10]
#include <dirent.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/integration/instance.h"
#include "tests/integration/rabbit_broker.h"
#include "bench_support.h"

using namespace mi::integration;
namespace fs = std::filesystem;
using namespace mi::bench;
using Clock = std::chrono::steady_clock;

namespace {

double since_ms(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

std::string users_yaml() {
  return R"(
  security.users:
    - {name: reader, password: reader-secret-pw}
    - {name: admin, password: admin-secret-pw, roles: [admin]}
)";
}

std::string rabbit_config(int http_port, int rabbit_port, const std::string& from, const std::string& to,
                          const std::string& extra) {
  return "server: {address: 127.0.0.1, port: " + std::to_string(http_port) + "}\n" + extra +
         "solace.connector:" + users_yaml() +
         R"(  default.workflow.acknowledgment: {publish-async: true, back-pressure-threshold: 255}
  workflows: {0: {enabled: true}}
spring.cloud.stream:
  binders:
    rmq: {type: rabbit, environment: {spring.rabbitmq: {host: 127.0.0.1, port: )" +
         std::to_string(rabbit_port) + R"(}}}
  bindings:
    input-0: {destination: )" + from + R"(, binder: rmq}
    output-0: {destination: "", binder: rmq}
  rabbit.bindings.output-0.producer.routing-key: )" + to + "\n";
}

std::string file_config(int http_port) {
  return "server: {address: 127.0.0.1, port: " + std::to_string(http_port) + "}\n" + "solace.connector:" +
         users_yaml() + R"(  workflows: {0: {enabled: true}}
spring.cloud.stream:
  binders:
    local: {type: file}
  bindings:
    input-0: {destination: inbox}
    output-0: {destination: outbox}
)";
}

struct StartTimes {
  std::vector<double> health_ms;   // fork/exec -> first 200 from /actuator/health
  std::vector<double> running_ms;  // fork/exec -> workflow 0 reported "running"
};

// Starts the binary in `dir` with `config`, polls every millisecond, then stops it (SIGTERM).
void time_one_start(const fs::path& dir, const std::string& config, int port, StartTimes& out) {
  fs::create_directories(dir);
  write_file(dir / "application.yml", config);
  const auto t0 = Clock::now();
  Process p(MI_BINARY_PATH, {}, dir, dir / "instance.log");
  auto fail = [&](const std::string& what) {
    throw std::runtime_error(what + "; log:\n" + p.log());
  };
  httplib::Client anonymous("127.0.0.1", port);
  anonymous.set_connection_timeout(1, 0);
  anonymous.set_read_timeout(10, 0);
  for (;;) {
    if (auto res = anonymous.Get("/actuator/health"); res && res->status == 200) break;
    if (since_ms(t0) > 20000) fail("no 200 from /actuator/health within 20 s");
    if (p.wait_exit(std::chrono::milliseconds(0))) fail("the instance exited");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  out.health_ms.push_back(since_ms(t0));
  httplib::Client reader("127.0.0.1", port);
  reader.set_basic_auth(kReaderUser, kReaderPassword);
  reader.set_read_timeout(10, 0);
  for (;;) {
    auto res = reader.Get("/actuator/workflows/0");
    if (res && res->status == 200) {
      const auto workflow = nlohmann::json::parse(res->body);
      std::string state = workflow.value("state", "");
      for (char& c : state) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      // Running with its bindings open: "connection" is there while they are being opened.
      if (state == "running" && !workflow.contains("connection")) break;
    }
    if (since_ms(t0) > 20000) fail("workflow 0 not running within 20 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  out.running_ms.push_back(since_ms(t0));
  p.signal(SIGTERM);
  if (!p.wait_exit(std::chrono::seconds(15))) std::fprintf(stderr, "instance did not stop on SIGTERM; killing it\n");
}

double at(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}
std::string min_p50_max(const std::vector<double>& v) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "min %6.1f  p50 %6.1f  max %6.1f ms", at(v, 0), at(v, 0.5), at(v, 1));
  return buf;
}

std::string base64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  auto byte = [&](size_t k) { return k < in.size() ? static_cast<unsigned>(static_cast<unsigned char>(in[k])) : 0u; };
  std::string out;
  for (size_t i = 0; i < in.size(); i += 3) {
    const unsigned v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += t[v >> 18];
    out += t[(v >> 12) & 63];
    out += i + 1 < in.size() ? t[(v >> 6) & 63] : '=';
    out += i + 2 < in.size() ? t[v & 63] : '=';
  }
  return out;
}

struct WrkResult {
  bool ok = false;
  double requests_per_s = 0;
  double p50_ms = 0, p99_ms = 0;
  long requests = 0;
  long non_2xx = 0;
  long timeouts = 0;
  std::string socket_errors;  // wrk's line, if any
  Cpu server_cpu;
  double seconds = 0;
  std::string raw;
};

double to_ms(const std::string& number, const std::string& unit) {
  const double v = std::atof(number.c_str());
  if (unit == "us") return v / 1000;
  if (unit == "ms") return v;
  if (unit == "s") return v * 1000;
  if (unit == "m") return v * 60000;
  return v;
}

WrkResult run_wrk(const std::string& url, const std::string& header, int seconds, pid_t server) {
  std::string cmd = "wrk -t2 -c16 -d" + std::to_string(seconds) + "s --latency";
  if (!header.empty()) cmd += " -H '" + header + "'";
  cmd += " '" + url + "' 2>&1";
  WrkResult r;
  const Cpu cpu0 = cpu_seconds(0, server);
  const auto t0 = Clock::now();
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return r;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, pipe)) r.raw.append(buf, n);
  const int rc = pclose(pipe);
  r.seconds = since_ms(t0) / 1000;
  r.server_cpu = cpu_seconds(0, server) - cpu0;
  std::smatch m;
  if (std::regex_search(r.raw, m, std::regex(R"(Requests/sec:\s+([0-9.]+))"))) r.requests_per_s = std::atof(m[1].str().c_str());
  if (std::regex_search(r.raw, m, std::regex(R"(\n\s+50%\s+([0-9.]+)(us|ms|s|m)\b)"))) r.p50_ms = to_ms(m[1].str(), m[2].str());
  if (std::regex_search(r.raw, m, std::regex(R"(\n\s+99%\s+([0-9.]+)(us|ms|s|m)\b)"))) r.p99_ms = to_ms(m[1].str(), m[2].str());
  if (std::regex_search(r.raw, m, std::regex(R"((\d+) requests in)"))) r.requests = std::atol(m[1].str().c_str());
  if (std::regex_search(r.raw, m, std::regex(R"(Non-2xx or 3xx responses:\s+(\d+))"))) r.non_2xx = std::atol(m[1].str().c_str());
  if (std::regex_search(r.raw, m, std::regex(R"(Socket errors:[^\n]*)"))) r.socket_errors = m[0];
  if (std::regex_search(r.raw, m, std::regex(R"(Socket errors:.*timeout (\d+))"))) r.timeouts = std::atol(m[1].str().c_str());
  r.ok = rc == 0 && r.requests_per_s > 0;
  return r;
}

void print_wrk(const char* what, const WrkResult& r) {
  if (!r.ok) {
    std::printf("%-36s wrk failed:\n%s\n", what, r.raw.c_str());
    return;
  }
  std::printf("%-36s %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  (%ld requests; server CPU %.1f s of %.1f s)\n", what,
              r.requests_per_s, r.p50_ms, r.p99_ms, r.requests, r.server_cpu.total(), r.seconds);
  if (r.non_2xx) std::printf("      wrk: %ld responses were not 2xx/3xx\n", r.non_2xx);
  if (!r.socket_errors.empty()) std::printf("      wrk: %s (timeout: no answer within wrk's 2 s)\n", r.socket_errors.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  const int starts = argc > 1 ? std::atoi(argv[1]) : 20;
  const int messages = argc > 2 ? std::atoi(argv[2]) : 50000;
  const int wrk_seconds = argc > 3 ? std::atoi(argv[3]) : 10;
  if (starts < 1 || messages < 1 || wrk_seconds < 1) {
    std::fprintf(stderr, "usage: footprint_bench [starts=20] [messages=50000] [wrk-seconds=10]\n");
    return 2;
  }
  TempDir root("footprint-bench");
  RabbitBroker rabbit(root.path() / "rabbit");
  rabbit.start();
  for (const char* q : {"start-src", "start-dst", "mi-src", "mi-dst"}) declare_queue(rabbit.port(), q, false);
  const pid_t broker = rabbit.process_group();
  std::printf("release binary %s; one private RabbitMQ broker\n", MI_BINARY_PATH);

  // 1. Start-up time, the two kinds interleaved so that drift on the machine hits both alike.
  StartTimes with_rabbit, file_only;
  for (int i = 0; i < starts; ++i) {
    int port = free_port();
    time_one_start(root.path() / ("start-rabbit-" + std::to_string(i)),
                   rabbit_config(port, rabbit.port(), "start-src", "start-dst", ""), port, with_rabbit);
    port = free_port();
    time_one_start(root.path() / ("start-file-" + std::to_string(i)), file_config(port), port, file_only);
  }
  std::printf("\n1. start-up, fork/exec until ... (%d starts each, default logging to a file)\n", starts);
  std::printf("   rabbit -> rabbit, /actuator/health 200:  %s\n", min_p50_max(with_rabbit.health_ms).c_str());
  std::printf("   rabbit -> rabbit, workflow 0 running:     %s\n", min_p50_max(with_rabbit.running_ms).c_str());
  std::printf("   file only,        /actuator/health 200:  %s\n", min_p50_max(file_only.health_ms).c_str());
  std::printf("   file only,        workflow 0 running:     %s\n", min_p50_max(file_only.running_ms).c_str());

  // 2 and 3. Memory and CPU while moving `messages` persistent 1 KiB messages rabbit -> rabbit.
  long rabbit_idle_kib = 0, peak_kib = 0, hwm_kib = 0, after_kib = 0;
  double move_seconds = 0;
  Cpu mover, broker_cpu;
  {
    const int http_port = free_port();
    fs::create_directories(root.path() / "mi");
    Instance instance(root.path() / "mi",
                      rabbit_config(http_port, rabbit.port(), "mi-src", "mi-dst", "logging.level.root: WARN\n"),
                      http_port);
    const pid_t mi = instance.process().pid();
    if (!eventually([&] { return post_state(instance, 0, "PAUSED"); })) {
      std::fprintf(stderr, "cannot pause the workflow\n%s\n", instance.process().log().c_str());
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
    rabbit_idle_kib = resident_kib(mi);
    preload(rabbit.port(), "mi-src", messages);
    const Cpu mi0 = cpu_seconds(0, mi);
    const Cpu broker0 = cpu_seconds(broker);
    const auto t0 = Clock::now();
    std::atomic<bool> done{false};
    std::thread sampler([&] {
      while (!done) {
        peak_kib = std::max(peak_kib, resident_kib(mi));
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    });
    post_state(instance, 0, "RESUMED");
    while (queue_depth(rabbit.port(), "mi-dst") < static_cast<unsigned>(messages)) {
      if (Clock::now() - t0 > std::chrono::minutes(10)) throw std::runtime_error("timed out moving the messages");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    move_seconds = since_ms(t0) / 1000;
    mover = cpu_seconds(0, mi) - mi0;
    broker_cpu = cpu_seconds(broker) - broker0;
    done = true;
    sampler.join();
    hwm_kib = status_kib(mi, "VmHWM:");
    std::this_thread::sleep_for(std::chrono::seconds(1));
    after_kib = resident_kib(mi);
  }  // stops the instance
  std::printf("\n2. resident memory (VmRSS), rabbit -> rabbit, publish-async, 255 in flight, %d persistent %zu-byte messages\n",
              messages, kPayloadBytes);
  std::printf("   idle after start (workflow paused):  %6.1f MiB\n", mib(rabbit_idle_kib));
  std::printf("   peak while moving (10 ms samples):    %6.1f MiB   (VmHWM, peak since start: %.1f MiB)\n", mib(peak_kib),
              mib(hwm_kib));
  std::printf("   1 s after the last message:           %6.1f MiB\n", mib(after_kib));
  std::printf("\n3. CPU (user + system) of micro-integration for %d messages in %.2f s (%.0f msg/s):\n", messages,
              move_seconds, messages / move_seconds);
  std::printf("   %.2f s (user %.2f, system %.2f) = %.1f ms per 1,000 messages  (broker: %.1f ms per 1,000)\n",
              mover.total(), mover.user, mover.system, mover.total() / messages * 1e6, broker_cpu.total() / messages * 1e6);
  rabbit.stop();

  // 4. The management API under wrk, on an idle instance with a file workflow, no broker.
  long file_idle_kib = 0, file_after_wrk_kib = 0;
  WrkResult health, workflows;
  const bool have_wrk = std::system("command -v wrk >/dev/null 2>&1") == 0;
  {
    const int http_port = free_port();
    fs::create_directories(root.path() / "api");
    Instance instance(root.path() / "api", file_config(http_port), http_port);
    const pid_t mi = instance.process().pid();
    std::this_thread::sleep_for(std::chrono::seconds(1));
    file_idle_kib = resident_kib(mi);
    const std::string base = "http://127.0.0.1:" + std::to_string(http_port);
    const std::string auth = "Authorization: Basic " + base64(std::string(kReaderUser) + ":" + kReaderPassword);
    auto check = instance.client().Get("/actuator/workflows");
    if (!check || check->status != 200) {
      std::fprintf(stderr, "GET /actuator/workflows does not answer 200\n");
      return 1;
    }
    if (have_wrk) {
      health = run_wrk(base + "/actuator/health", "", wrk_seconds, mi);
      workflows = run_wrk(base + "/actuator/workflows", auth, wrk_seconds, mi);
      file_after_wrk_kib = resident_kib(mi);
    }
  }
  std::printf("\n   file workflow only, no broker: idle after start %.1f MiB", mib(file_idle_kib));
  if (have_wrk) std::printf(", after the wrk runs below %.1f MiB", mib(file_after_wrk_kib));
  std::printf("\n");
  if (have_wrk) {
    std::printf("\n4. management API, idle instance, wrk -t2 -c16 -d%ds --latency (wrk shares the 2 cores with the server)\n",
                wrk_seconds);
    print_wrk("   GET /actuator/health (no auth)", health);
    print_wrk("   GET /actuator/workflows (Basic)", workflows);
  } else {
    std::printf("\n4. management API: skipped, wrk is not installed\n");
  }

  std::printf("\nsummary\n");
  std::printf("  start-up to health 200 (p50):  rabbit workflow %.0f ms, file workflow %.0f ms (max %.0f / %.0f ms)\n",
              at(with_rabbit.health_ms, 0.5), at(file_only.health_ms, 0.5), at(with_rabbit.health_ms, 1),
              at(file_only.health_ms, 1));
  std::printf("  resident memory:               idle %.1f MiB (rabbit) / %.1f MiB (file); peak moving %.1f MiB\n",
              mib(rabbit_idle_kib), mib(file_idle_kib), mib(std::max(peak_kib, hwm_kib)));
  std::printf("  CPU per 1,000 messages:        %.1f ms (rabbit -> rabbit, %.0f msg/s)\n",
              mover.total() / messages * 1e6, messages / move_seconds);
  if (have_wrk && health.ok && workflows.ok) {
    std::printf("  management API under wrk:      health %.0f req/s (p50 %.2f ms, p99 %.2f ms); "
                "workflows %.0f req/s (p50 %.2f ms, p99 %.2f ms); wrk timeouts %ld / %ld\n",
                health.requests_per_s, health.p50_ms, health.p99_ms, workflows.requests_per_s, workflows.p50_ms,
                workflows.p99_ms, health.timeouts, workflows.timeouts);
  }
  return 0;
}

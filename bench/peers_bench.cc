// micro-integration beside its JVM peer and the broker's own ceiling, on one private RabbitMQ
// broker, one at a time, doing the same work: move N persistent 1 KiB messages from one queue
// to another, 255 in flight, publisher confirms.
//
//   peers_bench <spring-cloud-stream peer jar> <rabbitmq ceiling jar> [messages=50000]
//
// - micro-integration: a rabbit -> rabbit workflow, publish-async, back-pressure-threshold 255
//   (the input is acknowledged once the output's copy is confirmed).
// - The JVM peer (bench/peers/spring-cloud-stream): Spring Boot + Spring Cloud Stream with the
//   rabbit binder and actuator, a Function that returns its input, prefetch 255, publisher
//   confirms (the binder acknowledges the input when the send returns, not on the confirm:
//   less work than ours, and less safe). Its JVM runs with its defaults.
// - The ceiling (bench/peers/rabbitmq-ceiling): a consume-and-publish loop on RabbitMQ's Java
//   client doing what our workflow does, with nothing in between.
// For each: start-up to health UP (one start), RSS when idle and its peak while moving, and,
// after a warm-up of 20,000 messages, the messages moved per second and its CPU (user +
// system, from /proc) per 1,000 messages.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "bench_support.h"
#include "tests/integration/instance.h"
#include "tests/integration/rabbit_broker.h"

using namespace mi::integration;
using namespace mi::bench;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct Result {
  std::string name;
  double startup_ms = -1;  // -1: not measured
  long idle_rss_kib = 0;
  long peak_rss_kib = 0;
  double seconds = 0;
  double cpu_seconds = 0;
};

bool health_up(int port) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(2, 0);
  auto res = c.Get("/actuator/health");
  return res && res->status == 200 && res->body.find("\"UP\"") != std::string::npos;
}

// Messages moved first, unmeasured, so that a JVM's JIT has compiled the hot paths: what a
// long-running service shows is its steady state.
constexpr int kWarmUp = 20000;

// Waits for `queue` to hold kWarmUp messages, then kWarmUp + `count`, sampling `pid`'s RSS
// all along; the time and CPU are those of the `count` messages after the warm-up.
void measure_move(int broker_port, const std::string& queue, int count, pid_t pid, Result& r) {
  const auto started = Clock::now();
  auto wait_for = [&](unsigned depth) {
    while (queue_depth(broker_port, queue) < depth) {
      r.peak_rss_kib = std::max(r.peak_rss_kib, resident_kib(pid));
      if (Clock::now() - started > std::chrono::minutes(10)) throw std::runtime_error(r.name + ": timed out moving");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  };
  wait_for(kWarmUp);
  const auto t0 = Clock::now();
  const double cpu0 = cpu_seconds(0, pid).total();
  wait_for(static_cast<unsigned>(kWarmUp + count));
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  r.cpu_seconds = cpu_seconds(0, pid).total() - cpu0;
  r.peak_rss_kib = std::max(r.peak_rss_kib, resident_kib(pid));
}

// The java on PATH (Process takes a path, not a name to look up).
std::string java() {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin";
  for (size_t start = 0; start <= dirs.size();) {
    size_t colon = dirs.find(':', start);
    if (colon == std::string::npos) colon = dirs.size();
    const fs::path candidate = fs::path(dirs.substr(start, colon - start)) / "java";
    if (access(candidate.c_str(), X_OK) == 0) return candidate.string();
    start = colon + 1;
  }
  throw std::runtime_error("no java on PATH");
}

double since_ms(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

Result run_ours(RabbitBroker& rabbit, const fs::path& dir, int messages) {
  Result r{"micro-integration"};
  declare_queue(rabbit.port(), "mi-src", false);
  declare_queue(rabbit.port(), "mi-dst", false);
  fs::create_directories(dir);
  const int port = free_port();
  const auto t0 = Clock::now();
  Instance instance(dir, "server: {address: 127.0.0.1, port: " + std::to_string(port) + "}\n" + R"(
logging.level.root: WARN
solace.connector:
  security.users:
    - {name: reader, password: reader-secret-pw}
    - {name: admin, password: admin-secret-pw, roles: [admin]}
  workflows.0: {enabled: true, acknowledgment: {publish-async: true, back-pressure-threshold: 255}}
spring.cloud.stream:
  binders.rmq: {type: rabbit, environment: {spring.rabbitmq: {host: 127.0.0.1, port: )" +
                                 std::to_string(rabbit.port()) + R"(}}}
  bindings:
    input-0: {destination: mi-src, binder: rmq}
    output-0: {destination: "", binder: rmq}
  rabbit.bindings.output-0.producer.routing-key: mi-dst
)",
                    port);
  if (!eventually([&] { return health_up(port); }, std::chrono::seconds(60))) {
    throw std::runtime_error("micro-integration did not come UP:\n" + instance.process().log());
  }
  r.startup_ms = since_ms(t0);
  const pid_t pid = instance.process().pid();
  std::this_thread::sleep_for(std::chrono::seconds(3));
  r.idle_rss_kib = resident_kib(pid);
  if (!post_state(instance, 0, "PAUSED")) throw std::runtime_error("cannot pause micro-integration's workflow");
  preload(rabbit.port(), "mi-src", kWarmUp + messages);
  if (!post_state(instance, 0, "RESUMED")) throw std::runtime_error("cannot resume micro-integration's workflow");
  measure_move(rabbit.port(), "mi-dst", messages, pid, r);
  return r;
}

// POST /actuator/bindings/<binding> {"state": ...} on the Spring peer.
bool set_binding_state(int port, const std::string& binding, const char* state) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(10, 0);
  auto res = c.Post("/actuator/bindings/" + binding, std::string("{\"state\":\"") + state + "\"}", "application/json");
  return res && res->status / 100 == 2;
}

Result run_spring_peer(RabbitBroker& rabbit, const fs::path& dir, const std::string& jar, int messages) {
  Result r{"Spring Cloud Stream (JVM)"};
  fs::create_directories(dir);
  const int port = free_port();
  const auto t0 = Clock::now();
  Process peer(java(), {"-jar", jar, "--server.port=" + std::to_string(port), "--server.address=127.0.0.1",
                        "--spring.rabbitmq.port=" + std::to_string(rabbit.port())},
               dir, dir / "peer.log");
  if (!eventually([&] { return health_up(port); }, std::chrono::seconds(120))) {
    throw std::runtime_error("the Spring peer did not come UP:\n" + peer.log());
  }
  r.startup_ms = since_ms(t0);
  std::this_thread::sleep_for(std::chrono::seconds(3));
  r.idle_rss_kib = resident_kib(peer.pid());
  // The binder declared peer-in.src (its input) and peer-out.dst (bound to its output).
  if (!set_binding_state(port, "move-in-0", "STOPPED")) throw std::runtime_error("cannot stop the peer's input");
  preload(rabbit.port(), "peer-in.src", kWarmUp + messages);
  if (!set_binding_state(port, "move-in-0", "STARTED")) throw std::runtime_error("cannot start the peer's input");
  measure_move(rabbit.port(), "peer-out.dst", messages, peer.pid(), r);
  return r;
}

Result run_ceiling(RabbitBroker& rabbit, const fs::path& dir, const std::string& jar, int messages) {
  Result r{"RabbitMQ Java client (ceiling)"};
  declare_queue(rabbit.port(), "ceiling-src", false);
  declare_queue(rabbit.port(), "ceiling-dst", false);
  fs::create_directories(dir);
  preload(rabbit.port(), "ceiling-src", kWarmUp + messages);
  Process ceiling(java(), {"-jar", jar, std::to_string(rabbit.port()), "ceiling-src", "ceiling-dst"}, dir,
                  dir / "ceiling.log");
  if (!eventually([&] { return ceiling.log().find("ceiling: moving") != std::string::npos; },
                  std::chrono::seconds(60))) {
    throw std::runtime_error("the ceiling client did not start:\n" + ceiling.log());
  }
  r.idle_rss_kib = resident_kib(ceiling.pid());  // as it starts to consume
  measure_move(rabbit.port(), "ceiling-dst", messages, ceiling.pid(), r);
  return r;
}

void print(const Result& r, int messages) {
  const std::string startup = r.startup_ms < 0 ? "-" : std::to_string(static_cast<long>(r.startup_ms)) + " ms";
  std::printf("%-32s start-up %9s  idle RSS %7.1f MiB  peak RSS %7.1f MiB  %8.0f msg/s  CPU %6.1f ms per 1000\n",
              r.name.c_str(), startup.c_str(), mib(r.idle_rss_kib), mib(r.peak_rss_kib), messages / r.seconds,
              r.cpu_seconds / messages * 1e6);
}

// The three runs and the ratios; throws if one cannot run.
void run(const std::string& peer_jar, const std::string& ceiling_jar, int messages) {
  TempDir root("peers-bench");
  RabbitBroker rabbit(root.path() / "rabbit");
  rabbit.start();
  std::printf("%d persistent messages of %zu bytes (after %d to warm up), queue to queue, 255 in flight, publisher "
              "confirms; one private RabbitMQ broker; one mover at a time\n",
              messages, kPayloadBytes, kWarmUp);
  const Result ours = run_ours(rabbit, root.path() / "mi", messages);
  print(ours, messages);
  const Result spring = run_spring_peer(rabbit, root.path() / "spring", peer_jar, messages);
  print(spring, messages);
  const Result ceiling = run_ceiling(rabbit, root.path() / "ceiling", ceiling_jar, messages);
  print(ceiling, messages);
  const double our_rate = messages / ours.seconds;
  std::printf("\nmicro-integration against the JVM peer: throughput %.2fx, idle RSS 1/%.1f, peak RSS 1/%.1f, "
              "start-up 1/%.1f, CPU per message %.2fx\n",
              our_rate / (messages / spring.seconds), mib(spring.idle_rss_kib) / mib(ours.idle_rss_kib),
              mib(spring.peak_rss_kib) / mib(ours.peak_rss_kib), spring.startup_ms / ours.startup_ms,
              ours.cpu_seconds / spring.cpu_seconds);
  std::printf("micro-integration against the ceiling: throughput %.0f %% of it, CPU per message %.2fx\n",
              100.0 * our_rate / (messages / ceiling.seconds), ours.cpu_seconds / ceiling.cpu_seconds);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: peers_bench <spring peer jar> <ceiling jar> [messages=50000]\n");
    return 2;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // each result as it comes
  try {
    run(argv[1], argv[2], argc > 3 ? std::atoi(argv[3]) : 50000);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "peers_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}

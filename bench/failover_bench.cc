// Failover time of active_standby on a private RabbitMQ broker, measured with the real
// binary: from kill -9 (or a silent network cut) of the active instance to the moment the
// new active instance's workflow is running ("workflow 0 started" in its log).
//
//   failover_bench [kill-trials=50] [cut-trials=10] [amqp-0-9-1|amqp-1.0|amqp-1.0-artemis]
//
// With amqp-1.0 the management session runs over AMQP 1.0 (the broker's AMQP 1.0 plugin,
// heartbeat 1 s, which the plugin announces as its idle-timeout). With amqp-1.0-artemis it
// runs over AMQP 1.0 on a private ActiveMQ Artemis instead (an exclusive queue declared in
// broker.xml, amqpIdleTimeout 1 s, the same bound on the lease). Overlaps of two instances'
// active terms, read from their logs, are counted in every trial; the goal is 0.
#include <algorithm>
#include <cstdio>
#include <sstream>
#include <thread>

#include "tests/integration/artemis_broker.h"
#include "tests/integration/instance.h"
#include "tests/integration/log_lines.h"
#include "tests/integration/rabbit_broker.h"
#include "tests/integration/tcp_proxy.h"

using namespace mi::integration;
namespace fs = std::filesystem;

namespace {

std::string g_protocol = "amqp-0-9-1";

std::string config(int port, const std::string& host, const fs::path& shared) {
  return "server: {address: 127.0.0.1, port: " + std::to_string(port) + "}\n" + R"(
logging.level.root: WARN
logging.level.workflow: INFO
logging.level.leader: INFO
solace.connector:
  management:
    leader-election.mode: active_standby
    queue: bench
    session: {host: )" + host + R"(, protocol: )" + (g_protocol == "amqp-0-9-1" ? "amqp-0-9-1" : "amqp-1.0") + R"(, client-username: guest, client-password: guest, connect-retries: -1, reconnect-retry-wait-in-millis: 100}
  security.users: [{name: reader, password: reader-secret-pw}]
  workflows.0.enabled: true
spring.cloud.stream:
  binders.local.type: file
  bindings:
    input-0.destination: )" + (shared / "in").string() + R"(
    output-0.destination: )" + (shared / "out").string() + "\n";
}

void report(const char* what, std::vector<long long> ms) {
  if (ms.empty()) return;
  std::sort(ms.begin(), ms.end());
  auto pct = [&](double p) { return ms[std::min(ms.size() - 1, static_cast<size_t>(p * static_cast<double>(ms.size())))]; };
  std::printf("%s: n=%zu min=%lld p50=%lld p90=%lld p99=%lld max=%lld (ms)\n", what, ms.size(), ms.front(), pct(0.5),
              pct(0.9), pct(0.99), ms.back());
  std::printf("  all:");
  for (long long v : ms) std::printf(" %lld", v);
  std::printf("\n");
}

int count_overlaps(const std::vector<std::vector<ActiveTerm>>& per_instance) {
  std::vector<ActiveTerm> all;
  for (const auto& terms : per_instance) all.insert(all.end(), terms.begin(), terms.end());
  const auto found = overlapping_terms(all);
  for (const auto& overlap : found) std::fprintf(stderr, "overlap: %s\n", overlap.c_str());
  return static_cast<int>(found.size());
}

struct Node {
  fs::path dir;
  std::string host;
  std::unique_ptr<Instance> instance;
};

bool is_active(Node& n) {
  auto res = n.instance->client().Get("/actuator/leaderelection");
  return res && res->body.find("\"active\"") != std::string::npos;
}

void restart(Node& n, const fs::path& shared) {
  n.instance.reset();
  const int port = free_port();
  n.instance = std::make_unique<Instance>(n.dir, config(port, n.host, shared), port);
}

}  // namespace

int main(int argc, char** argv) {
  const int kill_trials = argc > 1 ? std::atoi(argv[1]) : 50;
  const int cut_trials = argc > 2 ? std::atoi(argv[2]) : 10;
  if (argc > 3) g_protocol = argv[3];
  if (g_protocol != "amqp-0-9-1" && g_protocol != "amqp-1.0" && g_protocol != "amqp-1.0-artemis") {
    std::fprintf(stderr, "usage: failover_bench [kill-trials] [cut-trials] [amqp-0-9-1|amqp-1.0|amqp-1.0-artemis]\n");
    return 2;
  }
  const bool artemis = g_protocol == "amqp-1.0-artemis";
  std::printf("management session over %s\n",
              artemis ? "AMQP 1.0 on ActiveMQ Artemis" : (g_protocol == "amqp-1.0" ? "AMQP 1.0 on RabbitMQ's plugin"
                                                                                    : "AMQP 0-9-1 on RabbitMQ"));
  TempDir root("failover-bench");
  std::unique_ptr<RabbitBroker> rabbit;
  std::unique_ptr<ArtemisBroker> artemis_broker;
  int broker_port = 0;
  std::string broker_url;
  if (artemis) {
    artemis_broker = std::make_unique<ArtemisBroker>(root.path() / "artemis", "guest", "guest");
    artemis_broker->add_exclusive_queue("bench");
    artemis_broker->set_amqp_idle_timeout(std::chrono::milliseconds(1000));
    artemis_broker->start();
    broker_port = artemis_broker->amqp_port();
    broker_url = artemis_broker->url();
  } else {
    rabbit = std::make_unique<RabbitBroker>(root.path() / "broker");
    if (g_protocol == "amqp-1.0") {
      rabbit->set_plugins("[rabbitmq_amqp1_0]");
      rabbit->set_config("heartbeat = 1\n");
    }
    rabbit->start();
    declare_queue(rabbit->port(), "bench", true);
    broker_port = rabbit->port();
    broker_url = rabbit->url();
  }
  const fs::path shared = root.path() / "shared";

  int overlaps = 0;
  // kill -9: two instances straight to the broker.
  std::vector<long long> kill_ms;
  {
    std::vector<Node> nodes(2);
    for (size_t i = 0; i < nodes.size(); ++i) {
      nodes[i].dir = root.path() / ("k" + std::to_string(i));
      nodes[i].host = broker_url;
      fs::create_directories(nodes[i].dir);
      restart(nodes[i], shared);
    }
    for (int t = 0; t < kill_trials; ++t) {
      size_t active = 2;
      eventually([&] {
        for (size_t i = 0; i < 2; ++i)
          if (is_active(nodes[i])) active = i;
        return active < 2;
      });
      if (active == 2) {
        std::fprintf(stderr, "no active instance\n");
        return 1;
      }
      Node& standby = nodes[1 - active];
      eventually([&] { return standby.instance->process().log().find("bound to queue") != std::string::npos; });
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      const long long killed = now_ms();
      nodes[active].instance->process().signal(SIGKILL);
      long long started = -1;
      eventually([&] { return (started = first_log_time(standby.instance->process().log(), "workflow 0 started", killed)) > 0; },
                 std::chrono::seconds(20));
      if (started < 0) {
        std::fprintf(stderr, "trial %d: no takeover\n", t);
        return 1;
      }
      kill_ms.push_back(started - killed);
      overlaps += count_overlaps({active_terms(nodes[active].instance->process().log(), killed),
                                  active_terms(standby.instance->process().log(), now_ms())});
      restart(nodes[active], shared);
    }
  }
  report("kill -9 -> new active's workflow running", kill_ms);

  // Silent network cut: each instance reaches the broker through its own proxy.
  std::vector<long long> cut_ms;
  {
    std::vector<std::unique_ptr<TcpProxy>> proxies;
    std::vector<Node> nodes(2);
    for (size_t i = 0; i < nodes.size(); ++i) {
      proxies.push_back(std::make_unique<TcpProxy>(broker_port));
      nodes[i].dir = root.path() / ("c" + std::to_string(i));
      nodes[i].host = "amqp://127.0.0.1:" + std::to_string(proxies[i]->port());
      fs::create_directories(nodes[i].dir);
      restart(nodes[i], shared);
    }
    for (int t = 0; t < cut_trials; ++t) {
      size_t active = 2;
      eventually([&] {
        for (size_t i = 0; i < 2; ++i)
          if (is_active(nodes[i])) active = i;
        return active < 2;
      }, std::chrono::seconds(30));
      if (active == 2) {
        std::fprintf(stderr, "no active instance\n");
        return 1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1500));
      const long long cut = now_ms();
      proxies[active]->cut();
      long long started = -1;
      Node& other = nodes[1 - active];
      eventually([&] { return (started = first_log_time(other.instance->process().log(), "workflow 0 started", cut)) > 0; },
                 std::chrono::seconds(30));
      proxies[active]->heal();
      if (started < 0) {
        std::fprintf(stderr, "cut trial %d: no takeover\n", t);
        return 1;
      }
      cut_ms.push_back(started - cut);
      overlaps += count_overlaps({active_terms(nodes[0].instance->process().log(), now_ms()),
                                  active_terms(nodes[1].instance->process().log(), now_ms())});
    }
  }
  report("silent network cut -> new active's workflow running", cut_ms);
  std::printf("overlapping active terms (from the instances' logs): %d\n", overlaps);
  return overlaps == 0 ? 0 : 1;
}

// Fault campaign for active_standby: a private RabbitMQ broker, three instances with a
// rabbit -> rabbit workflow under steady load, and a seeded sequence of faults (see
// campaign/fault_plan.h). This file runs the scenario and records what happened; the
// checker in campaign/campaign_checker.h judges it without taking the instances' word.
//
//   fault_campaign [--cluster] [--seed N] [--faults N]   exit code 1 if anything must-be-zero
//                                                        is not, 2 if the campaign could not run
// --cluster runs it on a three-node RabbitMQ cluster instead (cluster_campaign.h).
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstdio>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <unistd.h>

#include "campaign/campaign_checker.h"
#include "campaign/fault_plan.h"
#include "cluster_campaign.h"
#include "tests/integration/instance.h"
#include "tests/integration/log_lines.h"
#include "tests/integration/rabbit_broker.h"
#include "tests/integration/tcp_proxy.h"

using namespace mi::integration;
using namespace mi::campaign;
namespace fs = std::filesystem;

namespace {

constexpr long long kLeaseMs = 1500;  // 1.5 x the default 1 s heartbeat
constexpr int kNodes = 3;

// One instance slot: its directory, its own proxy to the broker, its current process.
struct Node {
  fs::path dir;
  std::unique_ptr<TcpProxy> proxy;
  std::unique_ptr<Instance> instance;
  size_t life = 0;  // index into the history's lives
};

std::string instance_config(int http_port, int proxy_port) {
  const std::string proxy = std::to_string(proxy_port);
  return "server: {address: 127.0.0.1, port: " + std::to_string(http_port) + "}\n" + R"(
logging.level.root: WARN
logging.level.leader: INFO
solace.connector:
  management:
    leader-election.mode: active_standby
    queue: mgmt
    session: {host: 'amqp://127.0.0.1:)" + proxy + R"(', client-username: guest, client-password: guest, reconnect-retry-wait-in-millis: 200}
  security.users: [{name: reader, password: reader-secret-pw}]
  workflows.0: {enabled: true, acknowledgment: {publish-async: true, back-pressure-threshold: 50, publish-timeout: 5000}}
spring.cloud.stream:
  binders.data: {type: rabbit, environment: {spring.rabbitmq: {host: 127.0.0.1, port: )" + proxy + R"(, requested-heartbeat: 2}}}
  bindings:
    input-0: {destination: in, binder: data, consumer: {back-off-initial-interval: 200, back-off-max-interval: 2000}}
    output-0: {destination: "", binder: data}
  rabbit.bindings.output-0.producer.routing-key: out
)";
}

class Campaign {
 public:
  Campaign(unsigned seed, int faults) : seed_(seed), plan_(plan(seed, faults)), root_("fault-campaign") {}

  int run();

 private:
  void start_node(int i) {
    Node& n = nodes_[static_cast<size_t>(i)];
    const int port = free_port();
    n.instance = std::make_unique<Instance>(n.dir, instance_config(port, n.proxy->port()), port);
    std::lock_guard lock(mutex_);
    history_.lives.push_back({i, n.instance->process().pid(), now_ms(), -1, ""});
    n.life = history_.lives.size() - 1;
  }
  // Keeps the log of the node's current process and marks when it ended.
  void end_life(int i, long long at_ms) {
    Node& n = nodes_[static_cast<size_t>(i)];
    std::lock_guard lock(mutex_);
    history_.lives[n.life].ended_ms = at_ms;
    history_.lives[n.life].log = n.instance->process().log();
  }
  bool is_active(int i) {
    auto res = nodes_[static_cast<size_t>(i)].instance->client().Get("/actuator/leaderelection");
    return res && res->body.find("\"active\"") != std::string::npos;
  }
  int active_node() {
    for (int i = 0; i < kNodes; ++i)
      if (is_active(i)) return i;
    return -1;
  }
  void produce();
  void collect();
  void sample_broker();
  void inject(FaultRecord& f);

  const unsigned seed_;
  const std::vector<PlannedFault> plan_;
  TempDir root_;
  std::unique_ptr<RabbitBroker> broker_;
  std::vector<Node> nodes_{kNodes};
  std::mutex mutex_;
  CampaignHistory history_;  // guarded by mutex_ while the threads run
  std::atomic<long long> confirmed_{0};
  std::atomic<bool> stop_load_{false};
  std::atomic<bool> stop_collect_{false};
  std::atomic<bool> broker_down_{false};
};

// Steady load: "s<n>" in order, each confirmed by the broker before the next; a message
// counts as sent only when confirmed (it is re-sent after a broker restart).
void Campaign::produce() {
  std::unique_ptr<mi::amqp::RabbitConnection> c;
  long long seq = 0;
  while (!stop_load_) {
    try {
      if (!c) {
        c = connect_to_rabbit(broker_->port());
        c->enable_confirms();
      }
      c->publish_confirmed("", "in", "s" + std::to_string(seq), {}, mi::Millis{5000});
      confirmed_ = ++seq;
      std::this_thread::sleep_for(std::chrono::milliseconds(4));
    } catch (const std::exception&) {
      c.reset();
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
}

void Campaign::collect() {
  std::unique_ptr<mi::amqp::RabbitConnection> c;
  while (!stop_collect_) {
    try {
      if (!c) {
        c = connect_to_rabbit(broker_->port());
        c->consume("out", 500);
      }
      auto e = c->next_event(mi::Millis{100});
      if (e.kind != mi::amqp::RabbitConnection::Event::kDelivery) continue;
      c->ack(e.tag, false);
      auto it = e.headers.find("x-leader-epoch");
      std::lock_guard lock(mutex_);
      history_.arrivals.push_back(
          {e.body, it == e.headers.end() ? -1 : std::atoll(it->second.c_str()), e.redelivered, now_ms()});
    } catch (const std::exception&) {
      c.reset();
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
}

// The broker's view, every 2 s: which consumer of the management queue is active. Our
// session's consumer tag is "micro-integration@<host>:<pid>".
void Campaign::sample_broker() {
  while (!stop_load_) {
    if (!broker_down_) {
      const long long from = now_ms();
      const std::string out = broker_->ctl("-q list_consumers queue_name consumer_tag active --no-table-headers");
      const long long to = now_ms();
      BrokerSample s{from, to, {}, {}};
      std::istringstream lines(out);
      std::string line;
      bool parsed = false;
      while (std::getline(lines, line)) {
        std::istringstream f(line);
        std::string queue, tag, active;
        if (!(f >> queue >> tag >> active) || queue != "mgmt") continue;
        parsed = true;
        const auto colon = tag.rfind(':');
        if (colon == std::string::npos) continue;
        const auto pid = static_cast<pid_t>(std::atoi(tag.c_str() + colon + 1));
        s.bound.insert(pid);
        if (active == "true") s.active.insert(pid);
      }
      if (parsed) {
        std::lock_guard lock(mutex_);
        history_.samples.push_back(std::move(s));
      }
    }
    for (int i = 0; i < 20 && !stop_load_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void Campaign::inject(FaultRecord& f) {
  const FaultType t = f.planned.type;
  if (!targets_an_instance(t)) {
    f.at_ms = now_ms();
    if (t == FaultType::kBrokerRestart) {
      broker_down_ = true;
      broker_->stop();
      std::this_thread::sleep_for(std::chrono::seconds(1));
      broker_->start();
      broker_down_ = false;
    } else {
      broker_->ctl("delete_queue mgmt");
      std::this_thread::sleep_for(std::chrono::seconds(1));
      declare_queue(broker_->port(), "mgmt", true);
    }
    return;
  }
  const int active = active_node();
  if (f.planned.on_active && active >= 0) {
    f.target = active;
  } else {
    std::vector<int> others;
    for (int i = 0; i < kNodes; ++i)
      if (i != active) others.push_back(i);
    f.target = others[f.planned.pick % others.size()];
  }
  Node& n = nodes_[static_cast<size_t>(f.target)];
  Process& p = n.instance->process();
  f.at_ms = now_ms();
  switch (t) {
    case FaultType::kKill9:
      p.signal(SIGKILL);
      p.wait_exit(std::chrono::seconds(10));
      end_life(f.target, f.at_ms);
      std::this_thread::sleep_for(std::chrono::seconds(1));
      start_node(f.target);
      break;
    case FaultType::kSigtermRestart:
      p.signal(SIGTERM);
      p.wait_exit(std::chrono::seconds(40));
      end_life(f.target, now_ms());
      start_node(f.target);
      break;
    case FaultType::kStopShort:
    case FaultType::kStopLong:
      p.signal(SIGSTOP);
      std::this_thread::sleep_for(std::chrono::milliseconds(freeze_ms(t)));
      p.signal(SIGCONT);
      break;
    case FaultType::kNetCut:
      n.proxy->cut();
      std::this_thread::sleep_for(std::chrono::seconds(4));
      n.proxy->heal();
      break;
    default:
      break;
  }
}

int Campaign::run() {
  broker_ = std::make_unique<RabbitBroker>(root_.path() / "broker");
  broker_->start();
  for (const char* q : {"in", "out"}) declare_queue(broker_->port(), q, false);
  declare_queue(broker_->port(), "mgmt", true);
  for (int i = 0; i < kNodes; ++i) {
    Node& n = nodes_[static_cast<size_t>(i)];
    n.dir = root_.path() / ("node" + std::to_string(i));
    fs::create_directories(n.dir);
    n.proxy = std::make_unique<TcpProxy>(broker_->port());
    start_node(i);
  }
  std::printf("seed %u, %zu faults, %d instances, broker on port %d\nplan:", seed_, plan_.size(), kNodes,
              broker_->port());
  for (const auto& p : plan_) {
    std::printf(" [%s%s]", std::string(name(p.type)).c_str(),
                targets_an_instance(p.type) && !p.on_active ? " (standby)" : "");
  }
  std::printf("\n");
  std::fflush(stdout);
  if (!eventually([&] { return active_node() >= 0; }, std::chrono::seconds(60))) {
    std::fprintf(stderr, "no instance became active\n");
    return 2;
  }
  std::thread producer([&] { produce(); });
  std::thread collector([&] { collect(); });
  std::thread sampler([&] { sample_broker(); });
  std::this_thread::sleep_for(std::chrono::seconds(3));
  for (size_t i = 0; i < plan_.size(); ++i) {
    FaultRecord f{plan_[i], -1, 0};
    inject(f);
    history_.faults.push_back(f);
    const bool settled = eventually([&] { return active_node() >= 0; }, std::chrono::seconds(60));
    std::printf("fault %2zu %-22s node %2d at +%6.1f s%s\n", i + 1, std::string(name(f.planned.type)).c_str(), f.target,
                static_cast<double>(f.at_ms - history_.lives.front().started_ms) / 1000.0,
                settled ? "" : "  (no active instance after 60 s)");
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::milliseconds(f.planned.gap_ms));
  }
  stop_load_ = true;
  producer.join();
  sampler.join();
  // Let the workflow drain what is left, then stop collecting.
  const long long sent = confirmed_;
  eventually([&] {
    std::lock_guard lock(mutex_);
    std::set<std::string> distinct;
    for (const auto& a : history_.arrivals) distinct.insert(a.body);
    return static_cast<long long>(distinct.size()) >= sent;
  }, std::chrono::seconds(60));
  std::this_thread::sleep_for(std::chrono::seconds(2));
  stop_collect_ = true;
  collector.join();
  for (int i = 0; i < kNodes; ++i) {
    std::lock_guard lock(mutex_);
    history_.lives[nodes_[static_cast<size_t>(i)].life].log = nodes_[static_cast<size_t>(i)].instance->process().log();
  }
  history_.confirmed = confirmed_;
  history_.end_ms = now_ms();
  history_.lease_ms = kLeaseMs;
  const CheckReport report = check(history_);
  print_report(history_, report, std::getenv("MI_CAMPAIGN_TRACE") != nullptr, stdout);
  std::printf("RESULT: %s (seed %u)\n", report.ok() ? "PASS" : "FAIL", seed_);
  return report.ok() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  unsigned seed = 1;
  int faults = 12;
  bool cluster = false;
  const auto number = [](const std::string& flag, const char* text, unsigned long max) {
    char* end = nullptr;
    errno = 0;
    const unsigned long value = std::strtoul(text, &end, 10);
    if (*text == '\0' || *end != '\0' || errno != 0 || value > max || text[0] == '-') {
      std::fprintf(stderr, "fault_campaign: %s needs a number from 0 to %lu, got '%s'\n", flag.c_str(), max, text);
      std::exit(2);
    }
    return value;
  };
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--cluster") {
      cluster = true;
      --i;  // takes no value
      continue;
    }
    if ((flag != "--seed" && flag != "--faults") || i + 1 >= argc) {
      std::fprintf(stderr, "usage: fault_campaign [--cluster] [--seed N] [--faults N]\n");
      return 2;
    }
    if (flag == "--seed") seed = static_cast<unsigned>(number(flag, argv[i + 1], 0xffffffffUL));
    if (flag == "--faults") faults = static_cast<int>(number(flag, argv[i + 1], 100000));
  }
  if (cluster) return run_cluster_campaign(seed, faults);
  Campaign campaign(seed, faults);
  return campaign.run();
}

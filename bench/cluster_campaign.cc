#include "cluster_campaign.h"

// The fault campaign on a three-node RabbitMQ cluster (tests/integration/rabbit_cluster.h,
// pause_minority, net_ticktime 10 s): one instance per node in the node's network namespace,
// reaching its own node first and the others over the bridge; a rabbit -> rabbit workflow
// between quorum queues on the instance's own node. The load generator and the checker's
// consumer live in the hub namespace and follow whichever nodes answer. The same checker
// as the single-broker campaign judges the recorded history.
#include <atomic>
#include <cstdio>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "campaign/campaign_checker.h"
#include "campaign/fault_plan.h"
#include "tests/integration/instance.h"
#include "tests/integration/log_lines.h"
#include "tests/integration/rabbit_broker.h"
#include "tests/integration/rabbit_cluster.h"

namespace mi::campaign {
namespace {

using namespace mi::integration;
namespace fs = std::filesystem;

constexpr long long kLeaseMs = 1500;
constexpr int kNodes = RabbitCluster::kNodes;
constexpr auto kPartition = std::chrono::seconds(15);
constexpr int kNetTicktimeSeconds = 10;

std::string instance_config(const RabbitCluster& cluster, int k) {
  return R"(server: {address: 127.0.0.1, port: 8090}
logging.level.root: WARN
logging.level.leader: INFO
solace.connector:
  management:
    leader-election.mode: active_standby
    queue: mgmt
    session: {host: ')" + cluster.session_hosts(k) + R"(', client-username: guest, client-password: guest, connect-retries-per-host: 0, reconnect-retry-wait-in-millis: 200}
  security.users: [{name: reader, password: reader-secret-pw}]
  workflows.0: {enabled: true, acknowledgment: {publish-async: true, back-pressure-threshold: 50, publish-timeout: 5000}}
spring.cloud.stream:
  binders.data: {type: rabbit, environment: {spring.rabbitmq: {host: 127.0.0.1, port: 5672, requested-heartbeat: 2}}}
  bindings:
    input-0: {destination: in, binder: data, consumer: {back-off-initial-interval: 200, back-off-max-interval: 2000}}
    output-0: {destination: "", binder: data}
  rabbit.bindings.output-0.producer.routing-key: out
)";
}

class ClusterCampaign {
 public:
  ClusterCampaign(unsigned seed, int faults)
      : seed_(seed), plan_(cluster_plan(seed, faults)), root_("cluster-campaign"),
        cluster_(root_.path() / "brokers", {"pause_minority", kNetTicktimeSeconds}) {}

  int run();

 private:
  struct Slot {
    fs::path dir;
    std::unique_ptr<Process> process;
    size_t life = 0;
  };

  void start_instance(int k) {
    Slot& s = slots_[static_cast<size_t>(k)];
    s.process = cluster_.spawn(k, MI_BINARY_PATH, {}, s.dir, s.dir / ("instance-" + std::to_string(lives_started_++) + ".log"));
    std::lock_guard lock(mutex_);
    history_.lives.push_back({k, s.process->pid(), now_ms(), -1, ""});
    s.life = history_.lives.size() - 1;
  }
  void end_life(int k, long long at_ms) {
    Slot& s = slots_[static_cast<size_t>(k)];
    std::lock_guard lock(mutex_);
    history_.lives[s.life].ended_ms = at_ms;
    history_.lives[s.life].log = s.process->log();
  }
  int active_instance() {
    for (int k = 0; k < kNodes; ++k) {
      if (flow_active_at_end(slots_[static_cast<size_t>(k)].process->log())) return k;
    }
    return -1;
  }
  // A node that answers (not cut off or down), to ask for the broker's view.
  int healthy_node() {
    for (int k = 0; k < kNodes; ++k) {
      if (!impaired_[static_cast<size_t>(k)]) return k;
    }
    return 0;
  }
  // Connects from the hub to the first node that accepts, starting after `last`.
  std::unique_ptr<amqp::RabbitConnection> connect_any(int& last) {
    for (int i = 1; i <= kNodes; ++i) {
      const int k = (last + i) % kNodes;
      try {
        auto c = connect_to_rabbit(RabbitCluster::kAmqpPort, cluster_.address(k));
        last = k;
        return c;
      } catch (const std::exception&) {
      }
    }
    throw std::runtime_error("no node accepts connections");
  }
  void produce();
  void collect();
  void sample_broker();
  void inject(FaultRecord& f);

  const unsigned seed_;
  const std::vector<PlannedFault> plan_;
  TempDir root_;
  RabbitCluster cluster_;
  std::vector<Slot> slots_{kNodes};
  std::atomic<bool> impaired_[kNodes] = {};
  int lives_started_ = 0;
  std::mutex mutex_;
  CampaignHistory history_;  // guarded by mutex_ while the threads run
  std::atomic<long long> confirmed_{0};
  std::atomic<bool> stop_load_{false};
  std::atomic<bool> stop_collect_{false};
};

// "s<n>" in order, each confirmed before the next, through whichever node answers.
void ClusterCampaign::produce() {
  cluster_.in_hub([&] {
    std::unique_ptr<amqp::RabbitConnection> c;
    int node = 0;
    long long seq = 0;
    while (!stop_load_) {
      try {
        if (!c) {
          c = connect_any(node);
          c->enable_confirms();
        }
        c->publish_confirmed("", "in", "s" + std::to_string(seq), {}, Millis{5000});
        confirmed_ = ++seq;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      } catch (const std::exception&) {
        c.reset();
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    }
  });
}

void ClusterCampaign::collect() {
  cluster_.in_hub([&] {
    std::unique_ptr<amqp::RabbitConnection> c;
    int node = 1;
    while (!stop_collect_) {
      try {
        if (!c) {
          c = connect_any(node);
          c->consume("out", 500);
        }
        auto e = c->next_event(Millis{100});
        if (e.kind != amqp::RabbitConnection::Event::kDelivery) continue;
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
  });
}

// The broker's view every 2 s, asked of a node that answers. (On this cluster RabbitMQ
// 3.10's list_consumers has so far listed the data queues' consumers and then timed out on
// the management queue's, so such samples are incomplete and not used: the cluster campaign
// is judged from the logs and the data until that is understood.)
void ClusterCampaign::sample_broker() {
  while (!stop_load_) {
    const long long from = now_ms();
    const std::string out =
        cluster_.ctl(healthy_node(), "-q list_consumers queue_name consumer_tag active --no-table-headers");
    const long long to = now_ms();
    BrokerSample s{from, to, {}, {}};
    std::istringstream lines(out);
    bool parsed = false;
    for (std::string line; std::getline(lines, line);) {
      std::istringstream fields(line);
      std::string queue, tag, active;
      if (!(fields >> queue >> tag >> active) || queue != "mgmt") continue;
      parsed = true;
      const auto colon = tag.rfind(':');
      if (colon == std::string::npos) continue;
      const auto pid = static_cast<pid_t>(std::atoi(tag.c_str() + colon + 1));
      s.bound.insert(pid);
      if (active == "true") s.active.insert(pid);
    }
    bool any_impaired = false;
    for (const auto& i : impaired_) any_impaired |= i.load();
    // While a node is cut off or down, the others' view of its consumers is stale by design
    // (they keep them until the node is declared down), so such samples are not evidence.
    if (!parsed && std::getenv("MI_CAMPAIGN_DEBUG")) std::fprintf(stderr, "unparsed broker sample: %s\n", out.c_str());
    if (parsed && !any_impaired) {
      std::lock_guard lock(mutex_);
      history_.samples.push_back(std::move(s));
    }
    for (int i = 0; i < 20 && !stop_load_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void ClusterCampaign::inject(FaultRecord& f) {
  const FaultType t = f.planned.type;
  if (t == FaultType::kQueueRecreate) {
    f.at_ms = now_ms();
    cluster_.ctl(healthy_node(), "delete_queue mgmt");
    std::this_thread::sleep_for(std::chrono::seconds(1));
    cluster_.in_hub([&] {
      int node = 0;
      auto c = connect_any(node);
      c->declare_queue("mgmt", true);
    });
    return;
  }
  const int active = active_instance();
  if (f.planned.on_active && active >= 0) {
    f.target = active;
  } else {
    std::vector<int> others;
    for (int k = 0; k < kNodes; ++k)
      if (k != active) others.push_back(k);
    f.target = others[f.planned.pick % others.size()];
  }
  const int k = f.target;
  Process& p = *slots_[static_cast<size_t>(k)].process;
  auto& impaired = impaired_[static_cast<size_t>(k)];
  f.at_ms = now_ms();
  switch (t) {
    case FaultType::kKill9:
      p.signal(SIGKILL);
      p.wait_exit(std::chrono::seconds(10));
      end_life(k, f.at_ms);
      std::this_thread::sleep_for(std::chrono::seconds(1));
      start_instance(k);
      break;
    case FaultType::kSigtermRestart:
      p.signal(SIGTERM);
      p.wait_exit(std::chrono::seconds(40));
      end_life(k, now_ms());
      start_instance(k);
      break;
    case FaultType::kStopShort:
    case FaultType::kStopLong:
      p.signal(SIGSTOP);
      std::this_thread::sleep_for(std::chrono::milliseconds(freeze_ms(t)));
      p.signal(SIGCONT);
      break;
    case FaultType::kNodePartition:
      impaired = true;
      cluster_.cut(k);
      std::this_thread::sleep_for(kPartition);
      cluster_.heal(k);
      // pause_minority: the node resumes by itself once it sees the others again.
      eventually([&] { return cluster_.node_running(k); }, std::chrono::seconds(60));
      impaired = false;
      break;
    case FaultType::kNodeKill:
      impaired = true;
      cluster_.kill_node(k);
      std::this_thread::sleep_for(std::chrono::seconds(3));
      cluster_.start_node(k);
      impaired = false;
      break;
    case FaultType::kNodeRestart:
      impaired = true;
      cluster_.stop_node(k);
      cluster_.start_node(k);
      impaired = false;
      break;
    default:
      break;
  }
}

int ClusterCampaign::run() {
  cluster_.start();
  cluster_.in_hub([&] {
    // Quorum queues on all three nodes.
    for (const char* q : {"in", "out"}) declare_queue_of_type(RabbitCluster::kAmqpPort, q, "quorum", false, cluster_.address(0));
    int node = 0;
    connect_any(node)->declare_queue("mgmt", true);
  });
  for (int k = 0; k < kNodes; ++k) {
    Slot& s = slots_[static_cast<size_t>(k)];
    s.dir = root_.path() / ("instance" + std::to_string(k));
    fs::create_directories(s.dir);
    write_file(s.dir / "application.yml", instance_config(cluster_, k));
    start_instance(k);
  }
  std::printf("cluster campaign: seed %u, %zu faults, %d nodes with one instance each, net_ticktime %d s\nplan:", seed_,
              plan_.size(), kNodes, kNetTicktimeSeconds);
  for (const auto& p : plan_) {
    std::printf(" [%s%s]", std::string(name(p.type)).c_str(),
                targets_an_instance(p.type) && !p.on_active ? " (standby)" : "");
  }
  std::printf("\n");
  std::fflush(stdout);
  if (!eventually([&] { return active_instance() >= 0; }, std::chrono::seconds(60))) {
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
    {
      std::lock_guard lock(mutex_);
      history_.faults.push_back(f);
    }
    const bool settled = eventually([&] { return active_instance() >= 0; }, std::chrono::seconds(60));
    std::printf("fault %2zu %-22s node %2d at +%6.1f s%s\n", i + 1, std::string(name(f.planned.type)).c_str(), f.target,
                static_cast<double>(f.at_ms - history_.lives.front().started_ms) / 1000.0,
                settled ? "" : "  (no active instance after 60 s)");
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::milliseconds(f.planned.gap_ms));
  }
  stop_load_ = true;
  producer.join();
  sampler.join();
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
  for (int k = 0; k < kNodes; ++k) {
    std::lock_guard lock(mutex_);
    history_.lives[slots_[static_cast<size_t>(k)].life].log = slots_[static_cast<size_t>(k)].process->log();
  }
  history_.confirmed = confirmed_;
  history_.end_ms = now_ms();
  history_.lease_ms = kLeaseMs;
  // A partitioned node's instances stay unbound for the partition and the node's resumption.
  history_.unbound_limit_ms = std::chrono::duration_cast<std::chrono::milliseconds>(kPartition).count() + 25'000;
  const CheckReport report = check(history_);
  print_report(history_, report, std::getenv("MI_CAMPAIGN_TRACE") != nullptr, stdout);
  std::printf("RESULT: %s (cluster, seed %u)\n", report.ok() ? "PASS" : "FAIL", seed_);
  for (auto& s : slots_) s.process.reset();  // before their nodes go
  return report.ok() ? 0 : 1;
}

}  // namespace

int run_cluster_campaign(unsigned seed, int faults) {
  ClusterCampaign campaign(seed, faults);
  return campaign.run();
}

}  // namespace mi::campaign

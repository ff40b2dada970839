// Fault campaign for active_standby: a private RabbitMQ broker, three instances with a
// rabbit -> rabbit workflow under steady load, and a seeded sequence of faults (kill -9,
// SIGSTOP/SIGCONT shorter and longer than the lease, silent network cut and heal, broker
// restart, management queue deleted and recreated, SIGTERM and restart). Afterwards an
// independent checker rebuilds who was active from three sources and reports:
//   - the instances' own timestamped state changes (their logs): overlapping active intervals;
//   - the broker's view (`rabbitmqctl list_consumers` sampled during the run): an instance
//     claiming to be active for a whole sample while the broker's active consumer of the
//     management queue is another instance;
//   - the messages that reached the target queue: a message stamped with an older leader
//     epoch arriving after one with a newer epoch (two leaders sending at once), messages
//     lost (confirmed to the producer, never arrived) and duplicates;
// and the failover time of every fault. The plan depends only on the seed: the same seed
// replays the same sequence of faults (targets are roles: "the active instance", "a standby").
//
//   fault_campaign [--seed N] [--faults N]      exit code 1 if anything must-be-zero is not
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <unistd.h>

#include "../tests/integration/instance.h"
#include "../tests/integration/log_lines.h"
#include "../tests/integration/rabbit_broker.h"
#include "../tests/integration/tcp_proxy.h"

using namespace mi::integration;
namespace fs = std::filesystem;

namespace {

constexpr long long kLeaseMs = 1500;  // 1.5 x the default 1 s heartbeat
constexpr int kNodes = 3;

enum class FaultType { kKill9, kStopShort, kStopLong, kNetCut, kBrokerRestart, kQueueRecreate, kSigtermRestart };
const char* name(FaultType t) {
  switch (t) {
    case FaultType::kKill9: return "kill -9";
    case FaultType::kStopShort: return "SIGSTOP 0.5 s";
    case FaultType::kStopLong: return "SIGSTOP 4 s";
    case FaultType::kNetCut: return "network cut 4 s";
    case FaultType::kBrokerRestart: return "broker restart";
    case FaultType::kQueueRecreate: return "queue delete+recreate";
    case FaultType::kSigtermRestart: return "SIGTERM+restart";
  }
  return "?";
}

struct PlannedFault {
  FaultType type;
  bool on_active;     // else on a standby (chosen by `pick`)
  unsigned pick;
  int gap_ms;         // quiet time after the system settled
};

std::vector<PlannedFault> plan(unsigned seed, int count) {
  std::mt19937 rng(seed);
  // Weights: process faults on the active instance are what failover is about.
  std::discrete_distribution<int> type({5, 2, 3, 3, 1, 1, 2});
  std::bernoulli_distribution on_active(0.8);
  std::uniform_int_distribution<unsigned> pick(0, 1000);
  std::uniform_int_distribution<int> gap(1000, 3000);
  std::vector<PlannedFault> out;
  for (int i = 0; i < count; ++i) out.push_back({static_cast<FaultType>(type(rng)), on_active(rng), pick(rng), gap(rng)});
  return out;
}

// One run of an instance process and what it logged.
struct Life {
  int node;
  pid_t pid;
  long long started_ms;
  long long ended_ms = -1;  // killed or exited; -1: still running at the end
  std::string log;
};

struct Node {
  fs::path dir;
  std::unique_ptr<TcpProxy> proxy;
  std::unique_ptr<Instance> instance;
  size_t life = 0;  // index into lives
};

struct FaultRecord {
  PlannedFault planned;
  int target = -1;  // node, -1 for broker-wide faults
  long long at_ms = 0;
  long long frozen_until_ms = -1;  // SIGSTOP: when SIGCONT was sent
};

struct Arrival {
  std::string body;
  long long epoch;
};

struct Sample {
  long long from_ms, to_ms;
  std::set<pid_t> active;  // pids of the management queue's active consumers
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
    lives_.push_back({i, n.instance->process().pid(), now_ms(), -1, ""});
    n.life = lives_.size() - 1;
  }
  // Keeps the log of the node's current process and marks when it ended.
  void end_life(int i, long long at_ms) {
    Node& n = nodes_[static_cast<size_t>(i)];
    std::lock_guard lock(mutex_);
    lives_[n.life].ended_ms = at_ms;
    lives_[n.life].log = n.instance->process().log();
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
  int check();

  const unsigned seed_;
  const std::vector<PlannedFault> plan_;
  TempDir root_;
  std::unique_ptr<RabbitBroker> broker_;
  std::vector<Node> nodes_{kNodes};
  std::mutex mutex_;
  std::vector<Life> lives_;
  std::vector<FaultRecord> faults_;
  std::vector<Arrival> arrivals_;
  std::vector<Sample> samples_;
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
      arrivals_.push_back({e.body, it == e.headers.end() ? -1 : std::atoll(it->second.c_str())});
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
      Sample s{from, to, {}};
      std::istringstream lines(out);
      std::string line;
      bool parsed = false;
      while (std::getline(lines, line)) {
        std::istringstream f(line);
        std::string queue, tag, active;
        if (!(f >> queue >> tag >> active) || queue != "mgmt") continue;
        parsed = true;
        const auto colon = tag.rfind(':');
        if (active == "true" && colon != std::string::npos) s.active.insert(static_cast<pid_t>(std::atoi(tag.c_str() + colon + 1)));
      }
      if (parsed) {
        std::lock_guard lock(mutex_);
        samples_.push_back(std::move(s));
      }
    }
    for (int i = 0; i < 20 && !stop_load_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void Campaign::inject(FaultRecord& f) {
  const FaultType t = f.planned.type;
  if (t == FaultType::kBrokerRestart || t == FaultType::kQueueRecreate) {
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
      std::this_thread::sleep_for(std::chrono::milliseconds(t == FaultType::kStopShort ? 500 : 4000));
      f.frozen_until_ms = now_ms();
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
  for (const auto& p : plan_) std::printf(" [%s%s]", name(p.type), p.on_active ? "" : " (standby)");
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
    FaultRecord f{plan_[i], -1, 0, -1};
    inject(f);
    faults_.push_back(f);
    const bool settled = eventually([&] { return active_node() >= 0; }, std::chrono::seconds(60));
    std::printf("fault %2zu %-22s node %2d at +%6.1f s%s\n", i + 1, name(f.planned.type), f.target,
                static_cast<double>(f.at_ms - lives_.front().started_ms) / 1000.0,
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
    for (const auto& a : arrivals_) distinct.insert(a.body);
    return static_cast<long long>(distinct.size()) >= sent;
  }, std::chrono::seconds(60));
  std::this_thread::sleep_for(std::chrono::seconds(2));
  stop_collect_ = true;
  collector.join();
  for (int i = 0; i < kNodes; ++i) {
    std::lock_guard lock(mutex_);
    lives_[nodes_[static_cast<size_t>(i)].life].log = nodes_[static_cast<size_t>(i)].instance->process().log();
  }
  return check();
}

struct Interval {
  size_t life;
  long long from, to, epoch;
};

int Campaign::check() {
  const long long end = now_ms();
  // 1. The instances' word: active intervals from their logs.
  std::vector<Interval> intervals;
  for (size_t l = 0; l < lives_.size(); ++l) {
    const Life& life = lives_[l];
    std::istringstream lines(life.log);
    std::string line;
    std::optional<Interval> open;
    while (std::getline(lines, line)) {
      const long long t = log_time_ms(line);
      if (t < 0) continue;
      if (auto p = line.find("state is now active (epoch "); p != std::string::npos) {
        if (!open) open = Interval{l, t, -1, std::atoll(line.c_str() + p + 27)};
      } else if (open && (line.find("flow inactive") != std::string::npos ||
                          line.find("state is now standby") != std::string::npos)) {
        // The term ends where the instance gives up the flow (its fencing gate is closed by
        // then: the gate is a lease that runs out by itself); stopping the workflows may log
        // "state is now standby" later, after a send blocked on a dead connection returns.
        open->to = t;
        intervals.push_back(*open);
        open.reset();
      }
    }
    if (open) {
      open->to = life.ended_ms >= 0 ? life.ended_ms : end;
      intervals.push_back(*open);
    }
  }
  // A frozen process cannot act, and its lease ran out kLeaseMs after it froze: its own log
  // only says so after SIGCONT, so its interval ends at freeze + lease.
  for (auto& iv : intervals) {
    for (const auto& f : faults_) {
      if (f.frozen_until_ms < 0 || f.target != lives_[iv.life].node) continue;
      if (iv.from < f.at_ms && iv.to > f.at_ms + kLeaseMs) iv.to = f.at_ms + kLeaseMs;
    }
  }
  std::printf("active intervals (node:epoch from..to, s since start):");
  for (const auto& iv : intervals) {
    std::printf(" %d:%lld %.1f..%.1f", lives_[iv.life].node, iv.epoch,
                static_cast<double>(iv.from - lives_.front().started_ms) / 1000.0,
                static_cast<double>(iv.to - lives_.front().started_ms) / 1000.0);
  }
  std::printf("\n");
  int log_overlaps = 0;
  long long overlap_ms = 0;
  for (size_t a = 0; a < intervals.size(); ++a) {
    for (size_t b = a + 1; b < intervals.size(); ++b) {
      if (lives_[intervals[a].life].node == lives_[intervals[b].life].node) continue;
      const long long from = std::max(intervals[a].from, intervals[b].from);
      const long long to = std::min(intervals[a].to, intervals[b].to);
      if (to > from) {
        ++log_overlaps;
        overlap_ms += to - from;
        std::printf("  overlap (logs): node %d epoch %lld and node %d epoch %lld for %lld ms\n",
                    lives_[intervals[a].life].node, intervals[a].epoch, lives_[intervals[b].life].node,
                    intervals[b].epoch, to - from);
      }
    }
  }
  // 2. The broker's view against the instances' word.
  std::map<pid_t, size_t> life_of_pid;
  for (size_t l = 0; l < lives_.size(); ++l) life_of_pid[lives_[l].pid] = l;
  int disagreements = 0;
  size_t samples_with_active = 0;
  for (const auto& s : samples_) {
    if (s.active.size() > 1) ++disagreements;  // the broker itself would be broken
    if (s.active.empty()) continue;
    ++samples_with_active;
    const pid_t broker_active = *s.active.begin();
    for (const auto& iv : intervals) {
      if (lives_[iv.life].pid == broker_active) continue;
      if (iv.from <= s.from_ms && iv.to >= s.to_ms) {
        ++disagreements;
        std::printf("  broker disagrees: node %d claims active (epoch %lld) during %lld..%lld, broker's active consumer is pid %d\n",
                    lives_[iv.life].node, iv.epoch, s.from_ms, s.to_ms, broker_active);
      }
    }
  }
  // 3. The messages at the target.
  long long max_epoch = 0;
  int stale = 0, unstamped = 0;
  std::set<std::string> distinct;
  std::printf("epochs in arrival order (epoch x messages):");
  for (size_t i = 0, run = 0; i < arrivals_.size(); ++i) {
    ++run;
    if (i + 1 == arrivals_.size() || arrivals_[i + 1].epoch != arrivals_[i].epoch) {
      std::printf(" %lldx%zu", arrivals_[i].epoch, run);
      run = 0;
    }
  }
  std::printf("\n");
  for (const auto& a : arrivals_) {
    distinct.insert(a.body);
    if (a.epoch <= 0) ++unstamped;
    if (a.epoch < max_epoch) ++stale;
    max_epoch = std::max(max_epoch, a.epoch);
  }
  long long lost = 0;
  for (long long i = 0; i < confirmed_; ++i)
    if (!distinct.count("s" + std::to_string(i))) ++lost;
  const long long duplicates = static_cast<long long>(arrivals_.size()) - static_cast<long long>(distinct.size());

  // Failover time: from the fault to the next "state is now active" of any instance.
  std::printf("\nfailover times (fault -> next instance logging \"state is now active\"):\n");
  std::map<std::string, std::vector<long long>> by_type;
  for (size_t i = 0; i < faults_.size(); ++i) {
    const auto& f = faults_[i];
    long long next = -1;
    for (const auto& iv : intervals)
      if (iv.from >= f.at_ms && (next < 0 || iv.from < next)) next = iv.from;
    const long long until = i + 1 < faults_.size() ? faults_[i + 1].at_ms : end;
    if (next >= 0 && next < until) {
      by_type[name(f.planned.type)].push_back(next - f.at_ms);
      if (std::getenv("MI_CAMPAIGN_TRACE")) {
        std::printf("-- fault %zu %s at %lld: log lines until the takeover\n", i + 1, name(f.planned.type), f.at_ms);
        for (const auto& life : lives_) {
          std::istringstream lines(life.log);
          std::string line;
          while (std::getline(lines, line)) {
            const long long t = log_time_ms(line);
            if (t >= f.at_ms - 200 && t <= next) std::printf("   node %d pid %d: %s\n", life.node, life.pid, line.c_str());
          }
        }
      }
    } else {
      by_type[std::string(name(f.planned.type)) + " (no change of leader)"].push_back(-1);
    }
  }
  for (auto& [type, v] : by_type) {
    std::sort(v.begin(), v.end());
    std::printf("  %-40s n=%zu", type.c_str(), v.size());
    if (v.front() >= 0) {
      std::printf(" min=%lld p50=%lld max=%lld ms", v.front(), v[v.size() / 2], v.back());
    }
    std::printf("\n");
  }
  std::printf("\nchecker (independent of the instances' own reports):\n");
  std::printf("  active intervals from logs: %zu over %zu processes; overlaps: %d (%lld ms)\n", intervals.size(),
              lives_.size(), log_overlaps, overlap_ms);
  std::printf("  broker samples with an active consumer: %zu; disagreements with the logs: %d\n", samples_with_active,
              disagreements);
  std::printf("  messages: %lld confirmed to the producer, %zu arrivals, lost %lld, duplicates %lld, "
              "older epoch after newer: %d, unstamped: %d, epochs seen up to %lld\n",
              static_cast<long long>(confirmed_), arrivals_.size(), lost, duplicates, stale, unstamped, max_epoch);
  const bool ok = log_overlaps == 0 && disagreements == 0 && stale == 0 && lost == 0 && unstamped == 0;
  std::printf("RESULT: %s (seed %u)\n", ok ? "PASS" : "FAIL", seed_);
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  unsigned seed = 1;
  int faults = 12;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--seed") seed = static_cast<unsigned>(std::strtoul(argv[i + 1], nullptr, 10));
    if (a == "--faults") faults = std::atoi(argv[i + 1]);
  }
  Campaign campaign(seed, faults);
  return campaign.run();
}

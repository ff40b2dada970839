// Takeover time of active_standby on a three-node RabbitMQ cluster (tests/integration/
// rabbit_cluster.h), measured with the real binary, one fresh cluster per trial: three
// instances, one per node, the management queue a quorum queue on all three nodes. Faults:
//   partition  the active instance's node loses its links to the other two
//   node-kill  kill -9 of the active instance's node (instances list every node as a host)
// For each trial it prints when the old active closed its gate ("flow inactive" in its log),
// when another instance opened its gate ("flow active"), and whether any two active terms
// overlapped (from the logs; any overlap fails the run).
//
//   cluster_failover_bench <partition|node-kill> <net_ticktime-seconds> [trials=3]
#include <algorithm>
#include <cstdio>
#include <thread>

#include "tests/integration/instance.h"
#include "tests/integration/log_lines.h"
#include "tests/integration/rabbit_broker.h"
#include "tests/integration/rabbit_cluster.h"

using namespace mi::integration;
namespace fs = std::filesystem;

namespace {

std::string config(const RabbitCluster& cluster, int k, const fs::path& shared) {
  return R"(server: {address: 127.0.0.1, port: 8090}
logging.level.root: WARN
logging.level.leader: INFO
solace.connector:
  management:
    leader-election.mode: active_standby
    queue: mgmt
    session: {host: ')" + cluster.session_hosts(k) + R"(', client-username: guest, client-password: guest, connect-retries: -1, connect-retries-per-host: 0, reconnect-retry-wait-in-millis: 200}
  security.users: [{name: reader, password: reader-secret-pw}]
  workflows.0.enabled: true
spring.cloud.stream:
  binders.local.type: file
  bindings:
    input-0.destination: )" + (shared / "in").string() + R"(
    output-0.destination: )" + (shared / "out").string() + "\n";
}

struct Trial {
  long long gate_closed_ms = -1;  // old active, after the fault
  long long takeover_ms = -1;     // another instance's gate open, after the fault
  bool overlap = false;
};

Trial run_trial(const std::string& fault, int ticktime) {
  TempDir root("mi-cluster-bench");
  RabbitCluster cluster(root.path() / "brokers", {"pause_minority", ticktime});
  cluster.start();
  cluster.in_netns(0, [] { declare_queue(RabbitCluster::kAmqpPort, "mgmt", true); });
  std::vector<std::unique_ptr<Process>> instances;
  for (int k = 0; k < RabbitCluster::kNodes; ++k) {
    const fs::path dir = root.path() / ("instance-" + std::to_string(k));
    fs::create_directories(dir);
    write_file(dir / "application.yml", config(cluster, k, root.path() / "shared"));
    instances.push_back(cluster.spawn(k, MI_BINARY_PATH, {}, dir, dir / "instance.log"));
  }
  auto active = [&] {
    std::vector<int> out;
    for (int k = 0; k < RabbitCluster::kNodes; ++k) {
      if (flow_active_at_end(instances[static_cast<size_t>(k)]->log())) out.push_back(k);
    }
    return out;
  };
  if (!eventually([&] { return active().size() == 1; }, std::chrono::seconds(60))) {
    throw std::runtime_error("no single active instance");
  }
  const int first = active()[0];
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const long long fault_at = now_ms();
  if (fault == "partition") {
    cluster.cut(first);
  } else {
    cluster.kill_node(first);
  }
  Trial t;
  const bool taken_over = eventually([&] {
    const auto a = active();
    return a.size() == 1 && a[0] != first;
  }, std::chrono::seconds(3 * ticktime + 30));
  if (taken_over) {
    const int second = active()[0];
    t.takeover_ms = first_log_time(instances[static_cast<size_t>(second)]->log(), "management session: flow active",
                                   fault_at) - fault_at;
  }
  t.gate_closed_ms = first_log_time(instances[static_cast<size_t>(first)]->log(), "flow inactive", fault_at) - fault_at;
  std::vector<ActiveTerm> terms;
  for (const auto& p : instances) {
    for (const auto& term : active_terms(p->log(), now_ms())) terms.push_back(term);
  }
  t.overlap = !overlapping_terms(terms).empty();
  instances.clear();
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: cluster_failover_bench <partition|node-kill> <net_ticktime-seconds> [trials=3]\n");
    return 2;
  }
  const std::string fault = argv[1];
  if (fault != "partition" && fault != "node-kill") {
    std::fprintf(stderr, "fault must be partition or node-kill, not '%s'\n", fault.c_str());
    return 2;
  }
  const int ticktime = std::atoi(argv[2]);
  const int trials = argc > 3 ? std::atoi(argv[3]) : 3;
  if (ticktime < 1 || trials < 1) {
    std::fprintf(stderr, "net_ticktime and trials must be positive integers\n");
    return 2;
  }
  int overlaps = 0;
  std::vector<long long> takeovers, closes;
  for (int i = 0; i < trials; ++i) {
    const Trial t = run_trial(fault, ticktime);
    std::printf("%s, net_ticktime %d s, trial %d: old active's gate closed after %lld ms, another active after %lld ms%s\n",
                fault.c_str(), ticktime, i + 1, t.gate_closed_ms, t.takeover_ms, t.overlap ? ", OVERLAP" : "");
    std::fflush(stdout);
    overlaps += t.overlap ? 1 : 0;
    if (t.takeover_ms >= 0) takeovers.push_back(t.takeover_ms);
    if (t.gate_closed_ms >= 0) closes.push_back(t.gate_closed_ms);
  }
  std::sort(takeovers.begin(), takeovers.end());
  std::sort(closes.begin(), closes.end());
  auto range = [](const std::vector<long long>& v) {
    return v.empty() ? std::string("none") : std::to_string(v.front()) + ".." + std::to_string(v.back()) + " ms";
  };
  std::printf("%s, net_ticktime %d s: %d trials, gate closed %s, takeover %s (%zu of %d), overlaps %d\n", fault.c_str(),
              ticktime, trials, range(closes).c_str(), range(takeovers).c_str(), takeovers.size(), trials, overlaps);
  return overlaps == 0 && static_cast<int>(takeovers.size()) == trials ? 0 : 1;
}

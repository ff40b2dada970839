#include "cluster_campaign.h"

// The fault campaign on a three-node RabbitMQ cluster (tests/integration/rabbit_cluster.h,
// pause_minority, net_ticktime 10 s): one instance per node in the node's network namespace,
// reaching its own node first and the others over the bridge; a rabbit -> rabbit workflow
// between quorum queues on the instance's own node. The load generator and the checker's
// consumer live in the hub namespace and follow whichever nodes answer. The same checker
// as the single-broker campaign judges the recorded history.
#include <atomic>
#include <thread>

#include "campaign_runner.h"
#include "tests/integration/instance.h"
#include "tests/integration/log_lines.h"
#include "tests/integration/rabbit_broker.h"
#include "tests/integration/rabbit_cluster.h"

namespace mi::campaign {
namespace {

using namespace mi::integration;
namespace fs = std::filesystem;

constexpr auto kPartition = std::chrono::seconds(15);
constexpr int kNetTicktimeSeconds = 10;

class ClusterCampaign final : public CampaignRunner {
 public:
  ClusterCampaign(unsigned seed, int faults)
      : CampaignRunner(seed, cluster_plan(seed, faults), "cluster, ", 10), seed_(seed), faults_(faults),
        root_("cluster-campaign"), cluster_(root_.path() / "brokers", {"pause_minority", kNetTicktimeSeconds}) {}

 private:
  struct Slot {
    fs::path dir;
    std::unique_ptr<Process> process;
    int lives = 0;
  };

  std::string start_environment() override {
    cluster_.start();
    cluster_.in_hub([&] {
      // Quorum queues on all three nodes.
      int node = 0;
      auto c = connect_for_load(node);
      for (const char* q : {"in", "out"}) c->declare_queue(q, "quorum", false);
      c->declare_queue("mgmt", "quorum", true);
    });
    for (int k = 0; k < kInstances; ++k) {
      Slot& s = slots_[static_cast<size_t>(k)];
      s.dir = root_.path() / ("instance" + std::to_string(k));
      fs::create_directories(s.dir);
      // The management API listens in the instance's namespace; the campaign reads logs.
      write_file(s.dir / "application.yml",
                 campaign_instance_config(8090, "host: '" + cluster_.session_hosts(k) + "', connect-retries-per-host: 0",
                                          RabbitCluster::kAmqpPort));
      start_instance(k);
    }
    return "cluster campaign: seed " + std::to_string(seed_) + ", " + std::to_string(faults_) + " faults, " +
           std::to_string(RabbitCluster::kNodes) + " nodes with one instance each, net_ticktime " +
           std::to_string(kNetTicktimeSeconds) + " s";
  }
  void launch_instance(int k) override {
    Slot& s = slots_[static_cast<size_t>(k)];
    s.process = cluster_.spawn(k, MI_BINARY_PATH, {}, s.dir, s.dir / ("instance-" + std::to_string(s.lives++) + ".log"));
  }
  Process& process(int k) override { return *slots_[static_cast<size_t>(k)].process; }
  int active_instance() override {
    for (int k = 0; k < kInstances; ++k) {
      if (flow_active_at_end(process(k).log())) return k;
    }
    return -1;
  }
  // From the hub, the first node that accepts, starting after `cursor`.
  std::unique_ptr<amqp::RabbitConnection> connect_for_load(int& cursor) override {
    for (int i = 1; i <= RabbitCluster::kNodes; ++i) {
      const int k = (cursor + i) % RabbitCluster::kNodes;
      try {
        auto c = connect_to_rabbit(RabbitCluster::kAmqpPort, cluster_.address(k));
        cursor = k;
        return c;
      } catch (const std::exception&) {
      }
    }
    throw std::runtime_error("no node accepts connections");
  }
  void in_load_network(const std::function<void()>& body) override { cluster_.in_hub(body); }
  // The management queue's consumers as its Raft leader holds them (rabbitmqctl's
  // list_consumers reads per-node metrics that stay empty long after a restart or a cut).
  // While a node is cut off or down, the others' view of its consumers is stale by design
  // (they keep them until the node is declared down), so there is no sample then.
  std::optional<std::string> list_consumers() override {
    for (const auto& i : impaired_) {
      if (i) return std::nullopt;
    }
    return cluster_.queue_consumers(0, "mgmt");
  }
  void inject_environment_fault(FaultRecord& f) override {
    if (f.planned.type == FaultType::kQueueRecreate) {
      f.at_ms = now_ms();
      cluster_.ctl(0, "delete_queue mgmt");
      std::this_thread::sleep_for(std::chrono::seconds(1));
      cluster_.in_hub([&] {
        int node = 0;
        connect_for_load(node)->declare_queue("mgmt", "quorum", true);
      });
      return;
    }
    f.target = target_of(f.planned);
    const int k = f.target;
    auto& impaired = impaired_[static_cast<size_t>(k)];
    impaired = true;
    f.at_ms = now_ms();
    switch (f.planned.type) {
      case FaultType::kNodePartition:
        cluster_.cut(k);
        std::this_thread::sleep_for(kPartition);
        cluster_.heal(k);
        // pause_minority: the node resumes by itself once it sees the others again.
        eventually([&] { return cluster_.node_running(k); }, std::chrono::seconds(60));
        break;
      case FaultType::kNodeKill:
        cluster_.kill_node(k);
        std::this_thread::sleep_for(std::chrono::seconds(3));
        cluster_.start_node(k);
        break;
      case FaultType::kNodeRestart:
        cluster_.stop_node(k);
        cluster_.start_node(k);
        break;
      default:
        break;  // the single broker's faults: not planned for a cluster
    }
    impaired = false;
  }
  void adjust_history(CampaignHistory& history) override {
    // A partitioned node's instance stays unbound for the partition and the node's resumption.
    history.unbound_limit_ms = std::chrono::duration_cast<std::chrono::milliseconds>(kPartition).count() + 25'000;
  }

  const unsigned seed_;
  const int faults_;
  TempDir root_;
  RabbitCluster cluster_;
  std::vector<Slot> slots_{kInstances};  // declared after cluster_: the instances go first
  std::atomic<bool> impaired_[RabbitCluster::kNodes] = {};
};

}  // namespace

int run_cluster_campaign(unsigned seed, int faults) {
  ClusterCampaign campaign(seed, faults);
  return campaign.run();
}

}  // namespace mi::campaign

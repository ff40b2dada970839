// Fault campaign for active_standby: a private RabbitMQ broker, three instances with a
// rabbit -> rabbit workflow under steady load, and a seeded sequence of faults (see
// campaign/fault_plan.h). This file sets up the broker and the instances and injects the
// broker's faults; campaign_runner.h runs the scenario and records what happened, and the
// checker in campaign/campaign_checker.h judges it without taking the instances' word.
//
//   fault_campaign [--cluster] [--seed N] [--faults N] [--session-protocol amqp-1.0] [--broker artemis]
//     exit code 1 if anything must-be-zero is not, 2 if the campaign could not run
// --cluster runs it on a three-node RabbitMQ cluster instead (cluster_campaign.h).
// --session-protocol amqp-1.0 runs the instances' management session over AMQP 1.0 (the
// broker's AMQP 1.0 plugin, 1 s heartbeat). The broker's view of the management queue is
// then not sampled: the plugin names its consumers ctag-<link handle>, not after the
// instance, so the checker relies on the logs and the messages' epochs alone.
// --broker artemis runs the management session over AMQP 1.0 on a private ActiveMQ Artemis
// (an exclusive queue declared in broker.xml, 1 s idle-timeout) while the workflow's data
// stays on RabbitMQ; each instance reaches each broker through a proxy of its own, and a cut
// cuts both. The broker restart and the queue recreation then hit Artemis. Its view of the
// queue is not sampled either.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <regex>
#include <cstdlib>
#include <cstdio>
#include <thread>

#include "campaign_runner.h"
#include "cluster_campaign.h"
#include "tests/integration/artemis_broker.h"
#include "tests/integration/instance.h"
#include "tests/integration/log_lines.h"
#include "tests/integration/rabbit_broker.h"
#include "tests/integration/tcp_proxy.h"

using namespace mi::integration;
using namespace mi::campaign;
namespace fs = std::filesystem;

namespace {

// Where the management session runs.
enum class SessionBroker { kRabbitAmqp091, kRabbitAmqp10, kArtemis };

// One instance slot: its directory, its own proxies to the brokers (the same one when the
// session and the data share RabbitMQ), its current process.
struct Node {
  fs::path dir;
  std::unique_ptr<TcpProxy> proxy;          // to RabbitMQ
  std::unique_ptr<TcpProxy> session_proxy;  // to Artemis, with --broker artemis
  std::unique_ptr<Instance> instance;
};

// One broker (two with Artemis); each instance reaches it through its own TCP proxy, which a
// fault can cut.
class Campaign final : public CampaignRunner {
 public:
  Campaign(unsigned seed, int faults, SessionBroker session)
      : CampaignRunner(seed, plan(seed, faults), "", 4),
        seed_(seed),
        faults_(faults),
        session_(session),
        amqp10_(session != SessionBroker::kRabbitAmqp091),
        root_("fault-campaign") {}

 private:
  std::string start_environment() override {
    broker_ = std::make_unique<RabbitBroker>(root_.path() / "broker");
    if (amqp10_) {
      broker_->set_plugins("[rabbitmq_amqp1_0]");
      broker_->set_config("heartbeat = 1\n");
    }
    broker_->start();
    for (const char* q : {"in", "out"}) declare_queue(broker_->port(), q, false);
    if (session_ == SessionBroker::kArtemis) {
      artemis_ = std::make_unique<ArtemisBroker>(root_.path() / "artemis", "guest", "guest");
      artemis_->add_exclusive_queue("mgmt");
      artemis_->set_amqp_idle_timeout(std::chrono::milliseconds(1000));
      artemis_->start();
    } else {
      declare_queue(broker_->port(), "mgmt", true);
    }
    for (int i = 0; i < kInstances; ++i) {
      Node& n = nodes_[static_cast<size_t>(i)];
      n.dir = root_.path() / ("node" + std::to_string(i));
      fs::create_directories(n.dir);
      n.proxy = std::make_unique<TcpProxy>(broker_->port());
      if (artemis_) n.session_proxy = std::make_unique<TcpProxy>(artemis_->amqp_port());
      start_instance(i);
    }
    return "seed " + std::to_string(seed_) + ", " + std::to_string(faults_) + " faults, " + std::to_string(kInstances) +
           " instances, broker on port " + std::to_string(broker_->port()) + ", management session over " +
           (session_ == SessionBroker::kArtemis ? "AMQP 1.0 on ActiveMQ Artemis (port " +
                                                      std::to_string(artemis_->amqp_port()) + ")"
                                                : (amqp10_ ? "AMQP 1.0" : "AMQP 0-9-1"));
  }
  void launch_instance(int i) override {
    Node& n = nodes_[static_cast<size_t>(i)];
    const int port = free_port();
    const std::string session_proxy = std::to_string((n.session_proxy ? n.session_proxy : n.proxy)->port());
    n.instance = std::make_unique<Instance>(
        n.dir,
        campaign_instance_config(
            port, "host: 'amqp://127.0.0.1:" + session_proxy + "'" + (amqp10_ ? ", protocol: amqp-1.0" : ""),
            n.proxy->port()),
        port);
  }
  Process& process(int i) override { return nodes_[static_cast<size_t>(i)].instance->process(); }
  int active_instance() override {
    for (int i = 0; i < kInstances; ++i) {
      auto res = nodes_[static_cast<size_t>(i)].instance->client().Get("/actuator/leaderelection");
      if (res && res->body.find("\"active\"") != std::string::npos) return i;
    }
    return -1;
  }
  std::unique_ptr<mi::amqp::RabbitConnection> connect_for_load(int&) override {
    return connect_to_rabbit(broker_->port());
  }
  std::optional<std::string> list_consumers() override {
    if (broker_down_ || amqp10_) return std::nullopt;
    return broker_->ctl("-q list_consumers queue_name consumer_tag active --no-table-headers");
  }
  void inject_environment_fault(FaultRecord& f) override {
    f.at_ms = now_ms();
    switch (f.planned.type) {
      case FaultType::kBrokerRestart:
        if (artemis_) {  // the management session's broker
          artemis_->stop();
          std::this_thread::sleep_for(std::chrono::seconds(1));
          artemis_->start();
          break;
        }
        broker_down_ = true;
        broker_->stop();
        std::this_thread::sleep_for(std::chrono::seconds(1));
        broker_->start();
        broker_down_ = false;
        break;
      case FaultType::kQueueRecreate:
        if (artemis_) {
          artemis_->delete_queue("mgmt");
          std::this_thread::sleep_for(std::chrono::seconds(1));
          artemis_->redeclare_queues();
          break;
        }
        broker_->ctl("delete_queue mgmt");
        std::this_thread::sleep_for(std::chrono::seconds(1));
        declare_queue(broker_->port(), "mgmt", true);
        break;
      case FaultType::kNetCut: {
        f.target = target_of(f.planned);
        Node& node = nodes_[static_cast<size_t>(f.target)];
        f.at_ms = now_ms();
        node.proxy->cut();
        if (node.session_proxy) node.session_proxy->cut();
        std::this_thread::sleep_for(std::chrono::seconds(4));
        node.proxy->heal();
        if (node.session_proxy) node.session_proxy->heal();
        break;
      }
      default:
        break;  // the cluster's faults: not planned for one broker
    }
  }

  // The checker cuts a frozen active's term at freeze + lease. Over Artemis the lease is not
  // the configured 1.5 s: the session keeps it within the idle-timeout the broker announces,
  // which is half the acceptor's amqpIdleTimeout of 1000 ms (as AMQP advises; the instances
  // log "lease 500 ms"). So 500 ms, or whatever larger lease an instance logged: never
  // shorter than a lease that was in force.
  void adjust_history(CampaignHistory& history) override {
    if (!artemis_) return;
    long long lease = kArtemisAnnouncedIdleMs;
    static const std::regex logged(R"(, lease ([0-9]+) ms\))");
    for (const auto& life : history.lives) {
      for (std::sregex_iterator it(life.log.begin(), life.log.end(), logged), end; it != end; ++it) {
        lease = std::max(lease, std::stoll((*it)[1].str()));
      }
    }
    history.lease_ms = lease;
    std::printf("lease for the checker: %lld ms\n", lease);
  }

  static constexpr long long kArtemisAnnouncedIdleMs = 500;
  const unsigned seed_;
  const int faults_;
  const SessionBroker session_;
  const bool amqp10_;
  TempDir root_;
  std::unique_ptr<RabbitBroker> broker_;
  std::unique_ptr<ArtemisBroker> artemis_;  // the management session's, with --broker artemis
  std::vector<Node> nodes_{kInstances};
  std::atomic<bool> broker_down_{false};
};

}  // namespace

int main(int argc, char** argv) {
  unsigned seed = 1;
  int faults = 12;
  bool cluster = false;
  bool amqp10 = false;
  bool artemis = false;
  bool session_protocol_given = false;
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
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--cluster") {
      cluster = true;
    } else if (flag == "--session-protocol" && i + 1 < argc) {
      const std::string value = argv[++i];
      if (value != "amqp-1.0" && value != "amqp-0-9-1") {
        std::fprintf(stderr, "fault_campaign: --session-protocol is amqp-0-9-1 or amqp-1.0, got '%s'\n", value.c_str());
        return 2;
      }
      amqp10 = value == "amqp-1.0";
      session_protocol_given = true;
    } else if (flag == "--broker" && i + 1 < argc) {
      const std::string value = argv[++i];
      if (value != "artemis" && value != "rabbitmq") {
        std::fprintf(stderr, "fault_campaign: --broker is rabbitmq or artemis, got '%s'\n", value.c_str());
        return 2;
      }
      artemis = value == "artemis";
    } else if ((flag == "--seed" || flag == "--faults") && i + 1 < argc) {
      const char* value = argv[++i];
      if (flag == "--seed") seed = static_cast<unsigned>(number(flag, value, 0xffffffffUL));
      if (flag == "--faults") faults = static_cast<int>(number(flag, value, 100000));
    } else {
      std::fprintf(stderr,
                   "usage: fault_campaign [--cluster] [--seed N] [--faults N] [--session-protocol amqp-1.0] "
                   "[--broker artemis]\n");
      return 2;
    }
  }
  if (cluster && amqp10) {
    std::fprintf(stderr, "fault_campaign: --cluster runs over AMQP 0-9-1 only\n");
    return 2;
  }
  if (artemis && (cluster || (!amqp10 && session_protocol_given))) {
    std::fprintf(stderr, "fault_campaign: --broker artemis runs one Artemis, its session over AMQP 1.0\n");
    return 2;
  }
  if (cluster) return run_cluster_campaign(seed, faults);
  Campaign campaign(seed, faults,
                    artemis ? SessionBroker::kArtemis
                            : (amqp10 ? SessionBroker::kRabbitAmqp10 : SessionBroker::kRabbitAmqp091));
  return campaign.run();
}

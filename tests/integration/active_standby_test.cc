// Active-standby with real RabbitMQ brokers and real micro-integration processes.
// "Never two active" is checked from the instances' own timestamped logs (one machine, one
// clock), from the broker's view (rabbitmqctl list_consumers) and from the epoch headers on
// the messages the workflows wrote.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <ctime>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "instance.h"
#include "artemis_broker.h"
#include "log_lines.h"
#include "rabbit_broker.h"
#include "tcp_proxy.h"

namespace mi::integration {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

void expect_no_overlap(const std::vector<std::vector<ActiveTerm>>& per_instance) {
  std::vector<ActiveTerm> all;
  for (const auto& terms : per_instance) all.insert(all.end(), terms.begin(), terms.end());
  for (const auto& overlap : overlapping_terms(all)) ADD_FAILURE() << "two instances active together: " << overlap;
}

std::string active_standby_config(int port, const std::string& hosts, const std::string& queue,
                                  const fs::path& shared, const std::string& session_extra = "",
                                  const std::string& username = "guest") {
  return "server: {address: 127.0.0.1, port: " + std::to_string(port) + "}\n" +
         R"(solace:
  connector:
    management:
      leader-election:
        mode: active_standby
        fail-over: {max-attempts: 2, back-off-initial-interval: 100}
      queue: )" + queue + R"(
      session:
        client-username: ')" + username + R"('
        host: )" + hosts + R"(
        client-password: guest
        reconnect-retry-wait-in-millis: 200
        connect-retries: -1
)" + session_extra + R"(
    security:
      users: [{name: reader, password: reader-secret-pw}, {name: admin, password: admin-secret-pw, roles: [admin]}]
    workflows:
      0: {enabled: true}
spring.cloud.stream:
  binders: {local: {type: file}}
  bindings:
    input-0: {destination: )" + (shared / "inbox").string() + R"(}
    output-0: {destination: )" + (shared / "outbox").string() + R"(}
)";
}

class ActiveStandby : public ::testing::Test {
 protected:
  void SetUp() override {
    root = std::make_unique<TempDir>(::testing::UnitTest::GetInstance()->current_test_info()->name());
    start_brokers();
    fs::create_directories(shared());
  }
  virtual void start_brokers() {
    broker = std::make_unique<RabbitBroker>(root->path() / "broker");
    configure_broker(*broker);
    broker->start();
  }
  virtual void configure_broker(RabbitBroker&) {}
  // Lines added to every instance's session settings.
  virtual std::string session_settings() const { return ""; }
  void TearDown() override {
    if (HasFailure()) {
      for (size_t i = 0; i < instances.size(); ++i) {
        if (instances[i]) std::cerr << "---- instance " << i << " log:\n" << instances[i]->process().log();
      }
    }
    instances.clear();
  }
  fs::path shared() const { return root->path() / "shared"; }

  Instance& add_instance(const std::string& hosts, const std::string& queue, const std::string& session_extra = "",
                         const std::string& username = "guest") {
    const fs::path dir = root->path() / ("instance-" + std::to_string(instances.size()));
    fs::create_directories(dir);
    const int port = free_port();
    instances.push_back(std::make_unique<Instance>(
        dir, active_standby_config(port, hosts, queue, shared(), session_settings() + session_extra, username), port));
    return *instances.back();
  }

  static json get(Instance& i, const std::string& path) {
    auto res = i.client(kAdminUser, kAdminPassword).Get(path);
    if (!res) return json();
    try {
      return json::parse(res->body);
    } catch (const json::exception&) {
      return json();
    }
  }
  // What /actuator/health says of the management session.
  static std::string session_detail(Instance& i) {
    const json h = get(i, "/actuator/health");
    return h.is_object() && h.contains("components")
               ? h["components"]["leaderElection"]["details"]["session"].get<std::string>()
               : std::string();
  }
  // Waits (up to `timeout`) until that detail mentions `text`.
  static bool session_detail_says(Instance& i, const std::string& text,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    return eventually([&] { return session_detail(i).find(text) != std::string::npos; }, timeout);
  }
  static std::string state(Instance& i) {
    const json j = get(i, "/actuator/leaderelection");
    return j.is_object() && j.contains("mode") ? j["mode"]["state"].get<std::string>() : "";
  }
  // Indexes of live instances that say they are active.
  std::vector<size_t> active() {
    std::vector<size_t> out;
    for (size_t i = 0; i < instances.size(); ++i) {
      if (instances[i] && !instances[i]->process().wait_exit(std::chrono::milliseconds(0)) &&
          state(*instances[i]) == "active")
        out.push_back(i);
    }
    return out;
  }
  std::vector<size_t> wait_for_one_active(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    std::vector<size_t> a;
    eventually([&] { return (a = active()).size() == 1; }, timeout);
    return a;
  }

  std::unique_ptr<TempDir> root;
  std::unique_ptr<RabbitBroker> broker;
  std::vector<std::unique_ptr<Instance>> instances;
};

// Drops a file into the shared spool every few milliseconds while it lives.
class Feeder {
 public:
  explicit Feeder(fs::path inbox) : inbox_(std::move(inbox)) {
    fs::create_directories(inbox_);
    thread_ = std::thread([this] {
      for (int n = 0; !stop_; ++n) {
        const std::string name = "m" + std::to_string(n);
        write_file(inbox_ / ("." + name), name);
        fs::rename(inbox_ / ("." + name), inbox_ / name);
        written_ = n + 1;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
  }
  ~Feeder() { stop(); }
  // Stops dropping files; returns how many it dropped: m0 .. m<count-1>.
  int stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return written_;
  }

 private:
  fs::path inbox_;
  std::atomic<bool> stop_{false};
  std::atomic<int> written_{0};
  std::thread thread_;
};

// The tests that hold for either protocol of the management session, and over AMQP 1.0 on
// either broker. Over AMQP 1.0 on RabbitMQ the broker runs its AMQP 1.0 plugin (same port),
// on the same quorum queue with x-single-active-consumer, and a 1 s heartbeat: the plugin
// announces it as its idle-timeout, which bounds the lease, and drops a silent client after
// 2-3 times twice that (4-6 s). On ActiveMQ Artemis the management queue is a durable anycast
// queue declared exclusive in broker.xml: the kind of queue the specification names.
class ActiveStandbyOverEitherProtocol : public ActiveStandby, public ::testing::WithParamInterface<std::string> {
 protected:
  bool artemis() const { return GetParam() == "amqp-1.0-artemis"; }
  bool amqp10() const { return GetParam() != "amqp-0-9-1"; }
  void start_brokers() override {
    if (!artemis()) return ActiveStandby::start_brokers();
    artemis_broker = std::make_unique<ArtemisBroker>(root->path() / "artemis", "guest", "guest");
    artemis_broker->add_exclusive_queue("mgmt");
    artemis_broker->set_amqp_idle_timeout(std::chrono::milliseconds(1000));  // as RabbitMQ's heartbeat = 1 above
    artemis_broker->start();
  }
  void configure_broker(RabbitBroker& b) override {
    if (!amqp10()) return;
    b.set_plugins("[rabbitmq_amqp1_0]");
    b.set_config("heartbeat = 1\n");
  }
  std::string session_settings() const override {
    return std::string("        protocol: ") + (amqp10() ? "amqp-1.0" : "amqp-0-9-1") + "\n";
  }
  // The management queue "mgmt" (on Artemis it was declared before the start).
  void declare_management_queue() {
    if (!artemis()) declare_queue(broker->port(), "mgmt", true);
  }
  std::string management_url() const { return artemis() ? artemis_broker->url() : broker->url(); }
  int management_port() const { return artemis() ? artemis_broker->amqp_port() : broker->port(); }

  std::unique_ptr<ArtemisBroker> artemis_broker;
};

INSTANTIATE_TEST_SUITE_P(Protocol, ActiveStandbyOverEitherProtocol,
                         ::testing::Values("amqp-0-9-1", "amqp-1.0", "amqp-1.0-artemis"),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           if (param.param == "amqp-1.0") return std::string("amqp10");
                           if (param.param == "amqp-1.0-artemis") return std::string("amqp10artemis");
                           return std::string("amqp091");
                         });

TEST_P(ActiveStandbyOverEitherProtocol, ThreeInstancesOneActiveKillNineHandsOverToExactlyOne) {
  declare_management_queue();
  for (int i = 0; i < 3; ++i) add_instance(management_url(), "mgmt");
  auto first = wait_for_one_active();
  ASSERT_EQ(first.size(), 1u);
  if (!artemis()) {
    // RabbitMQ agrees: three consumers, one of them the single active one. (An instance
    // answers HTTP before its session binds, so the last one may still be on its way.)
    std::string consumers;
    int consumer_lines = 0, active_lines = 0;
    EXPECT_TRUE(eventually([&] {
      consumers = broker->ctl("list_consumers -q queue_name active");
      consumer_lines = active_lines = 0;
      std::istringstream lines(consumers);
      for (std::string line; std::getline(lines, line);) {
        consumer_lines += line.rfind("mgmt\t", 0) == 0;
        active_lines += line == "mgmt\ttrue";
      }
      return consumer_lines == 3;
    })) << consumers;
    EXPECT_EQ(active_lines, 1) << consumers;
  } else {
    // All three bound (Artemis keeps no "active consumer" of its own to ask): the kill below
    // has two standbys to hand over to.
    EXPECT_TRUE(eventually([&] {
      for (auto& i : instances) {
        if (i->process().log().find("management session bound to queue") == std::string::npos) return false;
      }
      return true;
    }));
  }
  const auto old_epoch = get(*instances[first[0]], "/actuator/leaderelection")["term"]["epoch"].get<unsigned long long>();

  const long long killed_at = now_ms();
  instances[first[0]]->process().signal(SIGKILL);
  instances[first[0]]->process().wait_exit(std::chrono::seconds(5));
  auto second = wait_for_one_active(std::chrono::seconds(10));
  ASSERT_EQ(second.size(), 1u);
  EXPECT_NE(second[0], first[0]);
  const auto new_epoch = get(*instances[second[0]], "/actuator/leaderelection")["term"]["epoch"].get<unsigned long long>();
  EXPECT_GT(new_epoch, old_epoch);
  // How the takeover went (the README reports it per broker): its time and, over AMQP 1.0,
  // how the new active's first token came (a certain redelivery, or a lease to wait out).
  const std::string new_log = instances[second[0]]->process().log();
  std::cout << GetParam() << ": kill -9 takeover in "
            << first_log_time(new_log, "management session: flow active", killed_at) - killed_at << " ms\n";
  if (const auto at = new_log.find("first token on this flow"); at != std::string::npos) {
    std::cout << new_log.substr(at, new_log.find('\n', at) - at) << "\n";
  }

  std::vector<std::vector<ActiveTerm>> intervals;
  for (size_t i = 0; i < instances.size(); ++i) {
    intervals.push_back(active_terms(instances[i]->process().log(), i == first[0] ? killed_at : now_ms()));
  }
  expect_no_overlap(intervals);
}

TEST_P(ActiveStandbyOverEitherProtocol, ProcessFrozenLongerThanItsLeaseStepsDownBeforeDoingMoreWork) {
  declare_management_queue();
  Instance& a = add_instance(management_url(), "mgmt");
  ASSERT_EQ(wait_for_one_active(), std::vector<size_t>{0});
  Instance& b = add_instance(management_url(), "mgmt");
  Feeder feeder(shared() / "inbox");
  ASSERT_TRUE(eventually([&] { return a.delivered() > 5; }));

  a.process().signal(SIGSTOP);
  const long long frozen_at = now_ms();
  ASSERT_TRUE(eventually([&] { return state(b) == "active"; }, std::chrono::seconds(15)));
  ASSERT_TRUE(eventually([&] { return b.delivered() > 3; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  a.process().signal(SIGCONT);
  ASSERT_TRUE(eventually([&] { return state(a) == "standby"; }));
  // Standby at once (the gate sees the lease is over); the session thread says why just after.
  EXPECT_TRUE(eventually([&] {
    const std::string log = a.process().log();
    return log.find("lease expired") != std::string::npos || log.find("the lease had expired") != std::string::npos;
  })) << a.process().log();
  const std::string log_a = a.process().log();
  // Every message A wrote carries A's epoch and was written before B's term began.
  const long long b_active_at = first_log_time(b.process().log(), "management session: flow active");
  ASSERT_GT(b_active_at, frozen_at - 1000);
  const std::string a_epoch = "\"" + std::to_string(get(a, "/actuator/leaderelection")["term"]["epoch"].get<unsigned long long>()) + "\"";
  int from_a = 0, from_b = 0;
  for (const auto& entry : fs::directory_iterator(shared() / "outbox")) {
    const std::string name = entry.path().filename().string();
    if (name.size() < 13 || name.substr(name.size() - 13) != ".headers.json") continue;
    const json headers = json::parse(read_file(entry.path()));
    if (headers["x-leader-epoch"].dump() == a_epoch) {
      ++from_a;
      const auto written = std::chrono::duration_cast<std::chrono::milliseconds>(
          fs::last_write_time(entry.path()).time_since_epoch() -
          (fs::file_time_type::clock::now().time_since_epoch() - std::chrono::system_clock::now().time_since_epoch()));
      EXPECT_LT(written.count(), b_active_at) << name << " was written by the old term after the new one began";
    } else {
      ++from_b;
    }
  }
  EXPECT_GT(from_a, 0);
  EXPECT_GT(from_b, 0);
}

TEST_P(ActiveStandbyOverEitherProtocol, SilentNetworkCutStepsTheActiveDownBeforeAnotherTakesOver) {
  declare_management_queue();
  TcpProxy proxy(management_port());
  Instance& a = add_instance("amqp://127.0.0.1:" + std::to_string(proxy.port()), "mgmt");
  ASSERT_EQ(wait_for_one_active(), std::vector<size_t>{0});
  Instance& b = add_instance(management_url(), "mgmt");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));

  const long long cut_at = now_ms();
  proxy.cut();
  ASSERT_TRUE(eventually([&] { return state(b) == "active"; }, std::chrono::seconds(20)));
  const long long b_active_at = first_log_time(b.process().log(), "management session: flow active");
  const long long a_down_at = first_log_time(a.process().log(), "management session: flow inactive", cut_at);
  ASSERT_GT(a_down_at, 0) << a.process().log();
  EXPECT_LT(a_down_at, b_active_at) << "the cut-off instance stepped down only after another took over";
  EXPECT_LT(b_active_at - cut_at, 8000) << "failover after a silent cut took too long";
  EXPECT_EQ(state(a), "standby");
  expect_no_overlap({active_terms(a.process().log(), now_ms()), active_terms(b.process().log(), now_ms())});
  proxy.heal();
}

TEST_F(ActiveStandby, BrokerAwayMeansAllStandbyAndBackMeansExactlyOneActive) {
  declare_queue(broker->port(), "mgmt", true);
  add_instance(broker->url(), "mgmt");
  add_instance(broker->url(), "mgmt");
  ASSERT_EQ(wait_for_one_active().size(), 1u);
  broker->stop();
  ASSERT_TRUE(eventually([&] { return active().empty(); }, std::chrono::seconds(15)));
  const json health = get(*instances[0], "/actuator/health");
  EXPECT_EQ(health["components"]["leaderElection"]["status"], "RECONNECTING") << health.dump();
  broker->start();
  EXPECT_EQ(wait_for_one_active(std::chrono::seconds(60)).size(), 1u)
      << broker->ctl("list_queues name messages_ready messages_unacknowledged consumers") << "\n"
      << broker->ctl("list_consumers queue_name channel_pid active");
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_EQ(active().size(), 1u);
}

// Found by the fault campaign: the epoch lives in the token, which a deleted queue takes
// with it; the next term must still get a higher epoch than every earlier one.
TEST_F(ActiveStandby, RecreatedManagementQueueContinuesTheEpochsUpward) {
  declare_queue(broker->port(), "mgmt", true);
  add_instance(broker->url(), "mgmt");
  add_instance(broker->url(), "mgmt");
  ASSERT_EQ(wait_for_one_active().size(), 1u);
  auto epoch = [&](size_t i) { return get(*instances[i], "/actuator/leaderelection")["term"]["epoch"]; };
  const auto first = wait_for_one_active()[0];
  const unsigned long long before = epoch(first).get<unsigned long long>();
  broker->ctl("delete_queue mgmt");
  ASSERT_TRUE(eventually([&] { return active().empty(); }, std::chrono::seconds(15)));
  declare_queue(broker->port(), "mgmt", true);
  const auto now_active = wait_for_one_active(std::chrono::seconds(30));
  ASSERT_EQ(now_active.size(), 1u);
  EXPECT_GT(epoch(now_active[0]).get<unsigned long long>(), before);
  // The broker names the active instance through our consumer tag.
  EXPECT_NE(broker->ctl("list_consumers queue_name consumer_tag active").find("micro-integration@"), std::string::npos);
}

// Found by the 200-fault campaign: after the management queue was deleted and recreated, the
// standbys stayed bound to nothing (the broker dropped their consumers without telling them)
// until they were restarted, so killing the active left no one to take over. The connection
// now announces consumer_cancel_notify, and a cancelled standby binds again.
TEST_F(ActiveStandby, StandbysBindAgainToARecreatedManagementQueue) {
  declare_queue(broker->port(), "mgmt", true);
  add_instance(broker->url(), "mgmt");
  add_instance(broker->url(), "mgmt");
  ASSERT_EQ(wait_for_one_active().size(), 1u);
  const auto consumers = [&] {
    const std::string out = broker->ctl("-q list_consumers queue_name --no-table-headers");
    return std::count(out.begin(), out.end(), '\n');
  };
  ASSERT_TRUE(eventually([&] { return consumers() == 2; }, std::chrono::seconds(10)));
  broker->ctl("delete_queue mgmt");
  declare_queue(broker->port(), "mgmt", true);
  EXPECT_TRUE(eventually([&] { return consumers() == 2; }, std::chrono::seconds(10)))
      << broker->ctl("list_consumers queue_name consumer_tag active");
  const auto first = wait_for_one_active(std::chrono::seconds(30));
  ASSERT_EQ(first.size(), 1u);
  instances[first[0]]->process().signal(SIGKILL);
  instances[first[0]]->process().wait_exit(std::chrono::seconds(5));
  instances[first[0]].reset();
  // RabbitMQ 3.10 may leave the standby's channel dropping every delivery of the recreated
  // queue while the queue counts them as delivered to it; the standby re-registers its
  // consumer on a new channel every 5 s (standby check), then waits out a lease.
  const auto second = wait_for_one_active(std::chrono::seconds(12));
  ASSERT_EQ(second.size(), 1u) << "the standby did not take over"
                               << broker->ctl("list_queues name messages_ready messages_unacknowledged consumers")
                               << broker->ctl("list_consumers queue_name consumer_tag active");
  EXPECT_NE(second[0], first[0]);
}

// A classic management queue works on one node, but lives on one node of a cluster, where
// the never-two-active argument needs a quorum queue: the instance says so.
TEST_F(ActiveStandby, AClassicManagementQueueWorksWithAWarningThatAClusterNeedsAQuorumQueue) {
  declare_queue_of_type(broker->port(), "classic-mgmt", "classic", true);   // x-queue-type given
  declare_queue_of_type(broker->port(), "untyped-mgmt", "", true);          // classic by default
  declare_queue(broker->port(), "mgmt", true);
  Instance& classic = add_instance(broker->url(), "classic-mgmt");
  Instance& untyped = add_instance(broker->url(), "untyped-mgmt");
  Instance& quorum = add_instance(broker->url(), "mgmt");
  ASSERT_TRUE(eventually([&] {
    return state(classic) == "active" && state(untyped) == "active" && state(quorum) == "active";
  })) << "each is alone on its queue";
  EXPECT_NE(classic.process().log().find("management queue 'classic-mgmt' is not a quorum queue"), std::string::npos)
      << classic.process().log();
  EXPECT_NE(untyped.process().log().find("management queue 'untyped-mgmt' is not a quorum queue"), std::string::npos)
      << untyped.process().log();
  EXPECT_EQ(quorum.process().log().find("is not a quorum queue"), std::string::npos) << quorum.process().log();
}

// Found by the 200-fault campaign: after the queue was recreated, the instance that put the
// first token in had never seen the last term's epoch (it was a standby, or had just been
// restarted) and the epochs went down. A seed token starts at the wall clock in ms.
TEST_F(ActiveStandby, AFreshInstanceOnARecreatedQueueStillStartsAboveEarlierEpochs) {
  declare_queue(broker->port(), "mgmt", true);
  Instance& a = add_instance(broker->url(), "mgmt");
  ASSERT_EQ(wait_for_one_active(), std::vector<size_t>{0});
  const auto before = get(a, "/actuator/leaderelection")["term"]["epoch"].get<unsigned long long>();
  a.process().signal(SIGKILL);
  a.process().wait_exit(std::chrono::seconds(5));
  instances[0].reset();
  broker->ctl("delete_queue mgmt");
  declare_queue(broker->port(), "mgmt", true);
  Instance& fresh = add_instance(broker->url(), "mgmt");  // has seen no token at all
  ASSERT_EQ(wait_for_one_active(), std::vector<size_t>{1});
  EXPECT_GT(get(fresh, "/actuator/leaderelection")["term"]["epoch"].get<unsigned long long>(), before);
}

// Workflow 0 moves queue "in" to queue "out" with up to 50 messages in flight. The input
// reaches the broker directly; the management session and the output go to `link_port`
// (the broker, or a proxy in front of it that a test can cut).
std::string rabbit_workflow_config(int http_port, int broker_port, int link_port) {
  const std::string link = std::to_string(link_port);
  return "server: {address: 127.0.0.1, port: " + std::to_string(http_port) + "}\n" + R"(
solace.connector:
  management:
    leader-election.mode: active_standby
    queue: mgmt
    session: {host: 'amqp://127.0.0.1:)" + link + R"(', client-username: guest, client-password: guest, reconnect-retry-wait-in-millis: 200}
  security.users: [{name: reader, password: reader-secret-pw}, {name: admin, password: admin-secret-pw, roles: [admin]}]
  workflows.0: {enabled: true, acknowledgment: {publish-async: true, back-pressure-threshold: 50}}
spring.cloud.stream:
  binders:
    source: {type: rabbit, environment: {spring.rabbitmq: {host: 127.0.0.1, port: )" + std::to_string(broker_port) + R"(}}}
    target: {type: rabbit, environment: {spring.rabbitmq: {host: 127.0.0.1, port: )" + link + R"(}}}
  bindings:
    input-0: {destination: in, binder: source}
    output-0: {destination: "", binder: target}
  rabbit.bindings.output-0.producer.routing-key: out
)";
}

// Found by the fault campaign: an output publish sent just before a silent cut sat in the
// cut link while another instance took over, and arrived when the link healed, after the
// new term's messages (the data connection's 10 s heartbeat outlives a short cut). The
// output now gives up at the end of the lease and resets its connection, which drops what
// the link still holds; those messages come again from the next active instance.
TEST_F(ActiveStandby, PublishStuckInACutLinkNeverArrivesAfterTheNextTermsMessages) {
  declare_queue(broker->port(), "mgmt", true);
  declare_queue(broker->port(), "in", false);
  declare_queue(broker->port(), "out", false);
  TcpProxy link(broker->port());
  const fs::path dir_a = root->path() / "a", dir_b = root->path() / "b";
  fs::create_directories(dir_a);
  fs::create_directories(dir_b);
  const int port_a = free_port();
  instances.push_back(std::make_unique<Instance>(dir_a, rabbit_workflow_config(port_a, broker->port(), link.port()), port_a));
  Instance& a = *instances.back();
  ASSERT_EQ(wait_for_one_active(), std::vector<size_t>{0});
  const int port_b = free_port();
  instances.push_back(std::make_unique<Instance>(dir_b, rabbit_workflow_config(port_b, broker->port(), broker->port()), port_b));
  Instance& b = *instances.back();

  // Steady load, so that A has publishes in flight when its link is cut, and keeps taking
  // messages from its input (which is not cut) until its lease runs out.
  std::atomic<bool> stop{false};
  std::atomic<int> produced{0};
  std::thread producer([&] {
    auto c = connect_to_rabbit(broker->port());
    c->enable_confirms();
    while (!stop) {
      c->publish_confirmed("", "in", "m" + std::to_string(produced.load()), {}, Millis{5000});
      ++produced;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  ASSERT_TRUE(eventually([&] { return a.delivered() > 50; }));
  // Pause A until nothing is in flight, cut its link, resume: A publishes what its input
  // holds into the cut link while its lease still runs (a publish whose confirm alone is
  // cut off arrived in time and would prove nothing).
  const auto set_workflow_state = [&](const char* to) {
    auto res = a.client(kAdminUser, kAdminPassword)
                   .Post("/actuator/workflows/0", std::string(R"({"state":")") + to + "\"}", "application/json");
    return res && res->status == 200;
  };
  ASSERT_TRUE(set_workflow_state("PAUSED"));
  ASSERT_TRUE(eventually([&] { return get(a, "/actuator/workflows/0")["messages"]["inFlight"] == 0; }));
  link.cut();
  const long long cut_at = now_ms();
  ASSERT_TRUE(set_workflow_state("RESUMED"));
  EXPECT_TRUE(eventually([&] { return state(b) == "active"; }, std::chrono::seconds(20)));
  EXPECT_TRUE(eventually([&] { return b.delivered() > 50; }));
  link.heal();
  std::this_thread::sleep_for(std::chrono::seconds(2));  // whatever the link held arrives now
  stop = true;
  producer.join();

  const auto arrived = drain_queue(broker->port(), "out", static_cast<size_t>(produced.load()));
  std::set<std::string> distinct;
  unsigned long long highest = 0;
  int older_after_newer = 0;
  for (const auto& m : arrived) {
    distinct.insert(m.body);
    const auto epoch = std::stoull(m.headers.at("x-leader-epoch"));
    if (epoch < highest) ++older_after_newer;
    highest = std::max(highest, epoch);
  }
  EXPECT_EQ(distinct.size(), static_cast<size_t>(produced.load())) << "messages lost";
  EXPECT_EQ(older_after_newer, 0) << "the old term's messages arrived after the new term's";
  EXPECT_NE(a.process().log().find("leadership lease ran out with"), std::string::npos)
      << "A had no publish in flight when its lease ran out, so this run proved nothing";
  EXPECT_LT(first_log_time(b.process().log(), "state is now active", cut_at) - cut_at, 8000);
}

TEST_F(ActiveStandby, WrongQueueOrCredentialsKeepTheInstanceStandbyAndHealthSaysWhy) {
  declare_queue(broker->port(), "plain", false);
  Instance& missing = add_instance(broker->url(), "nowhere");
  Instance& plain = add_instance(broker->url(), "plain");
  Instance& wrong_password = add_instance(broker->url(), "nowhere", "        client-password: wrong\n");
  ASSERT_TRUE(session_detail_says(missing, "does not exist")) << session_detail(missing);
  ASSERT_TRUE(session_detail_says(plain, "is not exclusive")) << session_detail(plain);
  ASSERT_TRUE(session_detail_says(wrong_password, "guest")) << session_detail(wrong_password);
  auto h = missing.anonymous_client().Get("/actuator/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 503);
  for (auto* i : {&missing, &plain, &wrong_password}) EXPECT_EQ(state(*i), "standby");
  // Fixing the queue at run time is picked up without a restart.
  declare_queue(broker->port(), "nowhere", true);
  EXPECT_TRUE(eventually([&] { return state(missing) == "active"; }, std::chrono::seconds(15)));
  EXPECT_EQ(wrong_password.process().log().find("wrong\n"), std::string::npos);
}

// On ActiveMQ Artemis the session asks the broker what kind of queue the management queue is
// before it attaches (amqp10/artemis_queue_check.h): attached to, a queue that was never
// created became a multicast address, every instance got every token, and two were active at
// once. The same for a queue that is not exclusive, and a user that may not ask; and, as on
// RabbitMQ, a wrong password and a broker that is not there.
class ActiveStandbyOnArtemis : public ActiveStandby {
 protected:
  void start_brokers() override {
    artemis = std::make_unique<ArtemisBroker>(root->path() / "artemis", "guest", "guest");
    artemis->add_exclusive_queue("mgmt");
    artemis->add_shared_queue("shared");
    artemis->add_user("operator", "guest", /*may_manage=*/false);
    artemis->set_amqp_idle_timeout(std::chrono::milliseconds(1000));
    artemis->start();
  }
  std::string session_settings() const override { return "        protocol: amqp-1.0\n"; }
  std::unique_ptr<ArtemisBroker> artemis;
};

TEST_F(ActiveStandbyOnArtemis, BadQueuesAPasswordOrNoBrokerKeepEveryoneStandbyAndSayWhyAnExclusiveQueueBinds) {
  Instance& missing = add_instance(artemis->url(), "nowhere");
  Instance& missing_too = add_instance(artemis->url(), "nowhere");
  Instance& shared_queue = add_instance(artemis->url(), "shared");
  Instance& may_not_ask = add_instance(artemis->url(), "mgmt", "", "operator");
  Instance& wrong_password = add_instance(artemis->url(), "mgmt", "        client-password: wrong\n");
  Instance& unreachable = add_instance("amqp://127.0.0.1:" + std::to_string(free_port()), "mgmt");
  for (auto* i : {&missing, &missing_too}) {
    ASSERT_TRUE(session_detail_says(*i, "has no queue named 'nowhere'", std::chrono::seconds(30)))
        << session_detail(*i);
  }
  ASSERT_TRUE(session_detail_says(shared_queue, "is not exclusive")) << session_detail(shared_queue);
  ASSERT_TRUE(session_detail_says(may_not_ask, "'manage' permission")) << session_detail(may_not_ask);
  ASSERT_TRUE(session_detail_says(wrong_password, "client-username")) << session_detail(wrong_password);
  ASSERT_TRUE(session_detail_says(unreachable, "cannot connect")) << session_detail(unreachable);
  auto h = missing.anonymous_client().Get("/actuator/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 503);
  // Through several rounds of checking again (every 200 ms): nobody ever active.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (std::chrono::steady_clock::now() < until) {
    ASSERT_EQ(active(), std::vector<size_t>{});
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (auto* i : {&missing, &shared_queue, &may_not_ask, &wrong_password, &unreachable}) {
    EXPECT_NE(i->process().log().find("error [leader] management session: "), std::string::npos) << i->process().log();
  }
  EXPECT_EQ(wrong_password.process().log().find("wrong\n"), std::string::npos) << "the password is in the log";
  // The exclusive queue, asked by a user that may: bound by its fully qualified name.
  Instance& good = add_instance(artemis->url(), "mgmt");
  EXPECT_EQ(wait_for_one_active(), std::vector<size_t>{6});
  EXPECT_NE(good.process().log().find("is an exclusive anycast queue on address 'mgmt'; binding to 'mgmt::mgmt'"),
            std::string::npos)
      << good.process().log();
}

// A replicated Artemis pair behind the session's host list: kill -9 of the primary while three
// instances run and the active one moves files through a queue on the pair with the amqp
// binder (whose host list names both too). The instances reconnect to the backup, which took
// over with the token and the queue's messages: one active again, never two, nothing lost.
TEST(ActiveStandbyOnArtemisPair, KillNineOfThePrimaryFailsOverToTheBackupWithOneActiveAndNothingLost) {
  TempDir root("artemis-pair");
  ArtemisBroker primary(root.path() / "primary", "guest", "guest");
  ArtemisBroker backup(root.path() / "backup", "guest", "guest");
  ArtemisBroker::pair_for_replication(primary, backup);
  for (ArtemisBroker* b : {&primary, &backup}) {
    b->add_exclusive_queue("mgmt");
    b->add_shared_queue("carried");
    b->set_amqp_idle_timeout(std::chrono::milliseconds(1000));
  }
  primary.start();
  backup.start();
  const std::string pair = "127.0.0.1:" + std::to_string(primary.amqp_port()) + ",127.0.0.1:" +
                           std::to_string(backup.amqp_port());
  const fs::path shared = root.path() / "shared";
  fs::create_directories(shared / "inbox");
  std::vector<std::unique_ptr<Instance>> instances;
  for (int i = 0; i < 3; ++i) {
    const fs::path dir = root.path() / ("instance-" + std::to_string(i));
    fs::create_directories(dir);
    const int port = free_port();
    instances.push_back(std::make_unique<Instance>(
        dir, "server: {address: 127.0.0.1, port: " + std::to_string(port) + "}\n" + R"(
solace:
  connector:
    management:
      leader-election: {mode: active_standby}
      queue: mgmt
      session:
        protocol: amqp-1.0
        host: amqp://127.0.0.1:)" + std::to_string(primary.amqp_port()) + ",amqp://127.0.0.1:" +
                 std::to_string(backup.amqp_port()) + R"(
        client-username: guest
        client-password: guest
        reconnect-retry-wait-in-millis: 200
        connect-retries: -1
    security:
      users: [{name: reader, password: reader-secret-pw}, {name: admin, password: admin-secret-pw, roles: [admin]}]
    workflows:
      0: {enabled: true}
      1: {enabled: true}
spring.cloud.stream:
  binders:
    local: {type: file}
    pair: {type: amqp, environment: {amqp: {host: ')" + pair + R"(', username: guest, password: guest, idle-timeout: 2}}}
  bindings:
    input-0: {destination: )" + (shared / "inbox").string() + R"(, binder: local}
    output-0: {destination: carried, binder: pair}
    input-1: {destination: carried, binder: pair, consumer: {back-off-initial-interval: 200, back-off-max-interval: 1000}}
    output-1: {destination: )" + (shared / "outbox").string() + R"(, binder: local}
)",
        port));
  }
  auto state = [](Instance& i) {
    auto res = i.client(kAdminUser, kAdminPassword).Get("/actuator/leaderelection");
    if (!res) return std::string();
    const auto j = json::parse(res->body, nullptr, false);
    return j.is_object() && j.contains("mode") ? j["mode"]["state"].get<std::string>() : std::string();
  };
  auto active = [&] {
    std::vector<size_t> out;
    for (size_t i = 0; i < instances.size(); ++i) {
      if (state(*instances[i]) == "active") out.push_back(i);
    }
    return out;
  };
  std::vector<size_t> first;
  ASSERT_TRUE(eventually([&] { return (first = active()).size() == 1; }, std::chrono::seconds(30)));
  int files = 0;
  {
    Feeder feeder(shared / "inbox");
    // Messages on their way through the pair when the primary dies.
    ASSERT_TRUE(eventually([&] { return instances[first[0]]->delivered(1) > 20; }, std::chrono::seconds(30)))
        << instances[first[0]]->process().log();
    const long long killed_at = now_ms();
    primary.kill();
    std::vector<size_t> again;
    ASSERT_TRUE(eventually([&] { return (again = active()).size() == 1; }, std::chrono::seconds(60)))
        << backup.log();
    long long active_again_at = -1;
    for (auto& i : instances) {
      const long long at = first_log_time(i->process().log(), "state is now active", killed_at);
      if (at > 0 && (active_again_at < 0 || at < active_again_at)) active_again_at = at;
    }
    std::cout << "Artemis pair, kill -9 of the primary: one active again after " << active_again_at - killed_at
              << " ms (instance " << again[0] << ", before: " << first[0] << ")\n";
    // Work goes on through the backup.
    const int delivered_before = instances[again[0]]->delivered(1);
    ASSERT_TRUE(eventually([&] { return instances[again[0]]->delivered(1) > delivered_before + 20; },
                           std::chrono::seconds(30)))
        << instances[again[0]]->process().log();
    files = feeder.stop();
  }
  // Every file dropped comes out, whichever broker carried it.
  int missing = 0;
  EXPECT_TRUE(eventually([&] {
    missing = 0;
    for (int n = 0; n < files; ++n) missing += !fs::exists(shared / "outbox" / ("m" + std::to_string(n)));
    return missing == 0;
  }, std::chrono::seconds(60))) << missing << " of " << files << " files lost\n" << instances[0]->process().log();
  std::vector<std::vector<ActiveTerm>> terms;
  for (auto& i : instances) terms.push_back(active_terms(i->process().log(), now_ms()));
  expect_no_overlap(terms);
  std::cout << "files carried through the pair across the failover: " << files << ", lost " << missing << "\n";
}

TEST_P(ActiveStandbyOverEitherProtocol, SigtermOfTheActiveHandsOverAtOnceWithoutOverlap) {
  declare_management_queue();
  // Long heartbeats: a takeover through timeouts would need 10 s or more.
  const std::string slow_heartbeat = "        heartbeat-interval-in-seconds: 5\n";
  Instance& a = add_instance(management_url(), "mgmt", slow_heartbeat);
  ASSERT_EQ(wait_for_one_active(), std::vector<size_t>{0});
  Instance& b = add_instance(management_url(), "mgmt", slow_heartbeat);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const long long term_at = now_ms();
  a.process().signal(SIGTERM);
  ASSERT_TRUE(eventually([&] { return state(b) == "active"; }, std::chrono::seconds(5)));
  EXPECT_LT(first_log_time(b.process().log(), "management session: flow active") - term_at, 3000);
  EXPECT_EQ(a.process().wait_exit(std::chrono::seconds(10)), 0);
  const long long a_stopped = first_log_time(a.process().log(), "workflow 0 stopped", term_at);
  ASSERT_GT(a_stopped, 0);
  EXPECT_LE(a_stopped, first_log_time(b.process().log(), "management session: flow active"));
  expect_no_overlap({active_terms(a.process().log(), now_ms()), active_terms(b.process().log(), now_ms())});
}

TEST_F(ActiveStandby, TermOutlivesTheBrokersConsumerTimeout) {
  // The broker closes a channel that holds a delivery unacknowledged longer than
  // consumer_timeout; here 3 s, checked every second. The token is refreshed every second.
  broker->stop();
  broker->set_config("consumer_timeout = 3000\n");
  broker->set_advanced_config("[{rabbit, [{channel_tick_interval, 1000}]}].");
  broker->start();
  declare_queue(broker->port(), "mgmt", true);
  Instance& a = add_instance(broker->url(), "mgmt", "        token-refresh-interval-in-millis: 1000\n");
  ASSERT_EQ(wait_for_one_active(), std::vector<size_t>{0});
  const auto epoch = get(a, "/actuator/leaderelection")["term"]["epoch"];
  std::this_thread::sleep_for(std::chrono::seconds(10));
  EXPECT_EQ(state(a), "active");
  EXPECT_EQ(get(a, "/actuator/leaderelection")["term"]["epoch"], epoch);
  EXPECT_EQ(a.process().log().find("flow inactive"), std::string::npos) << a.process().log();
}

TEST_P(ActiveStandbyOverEitherProtocol, AdminCanAskTheActiveToYield) {
  declare_management_queue();
  Instance& a = add_instance(management_url(), "mgmt");
  ASSERT_EQ(wait_for_one_active(), std::vector<size_t>{0});
  Instance& b = add_instance(management_url(), "mgmt");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto res = a.client(kAdminUser, kAdminPassword).Post("/actuator/leaderelection", R"({"action":"YIELD"})", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 202) << res->body;
  ASSERT_TRUE(eventually([&] { return state(b) == "active"; }, std::chrono::seconds(5)));
  EXPECT_EQ(state(a), "standby");
  expect_no_overlap({active_terms(a.process().log(), now_ms()), active_terms(b.process().log(), now_ms())});
}

// A CA and a server certificate for "localhost", made with the openssl command.
void make_certificates(const fs::path& dir, const std::string& ca_name) {
  const std::string d = dir.string();
  const std::string cmd =
      "cd '" + d + "' && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=" +
      ca_name + " && openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost" +
      " && printf 'subjectAltName=DNS:localhost' > san.ext" +
      " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile san.ext" +
      " && chmod 644 *.key *.pem && chown rabbitmq '" + d + "'/* >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

TEST_P(ActiveStandbyOverEitherProtocol, AmqpsSessionVerifiesTheBrokerCertificate) {
  const fs::path certs = root->path() / "certs";
  const fs::path other = root->path() / "other-ca";
  fs::create_directories(certs);
  fs::create_directories(other);
  make_certificates(certs, "mi-test-ca");
  make_certificates(other, "some-other-ca");
  const int tls_port = free_port();
  if (artemis()) {
    const std::string cmd = "openssl pkcs12 -export -in '" + (certs / "server.pem").string() + "' -inkey '" +
                            (certs / "server.key").string() + "' -out '" + (certs / "server.p12").string() +
                            "' -passout pass:mi-test-store";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    artemis_broker->stop();
    artemis_broker->add_tls_acceptor(tls_port, certs / "server.p12", "mi-test-store");
    artemis_broker->start();
  } else {
    broker->stop();
    broker->set_config("listeners.ssl.default = " + std::to_string(tls_port) + "\n" +
                       "ssl_options.cacertfile = " + (certs / "ca.pem").string() + "\n" +
                       "ssl_options.certfile = " + (certs / "server.pem").string() + "\n" +
                       "ssl_options.keyfile = " + (certs / "server.key").string() + "\n" +
                       "ssl_options.verify = verify_none\nssl_options.fail_if_no_peer_cert = false\n");
    broker->start();
  }
  ASSERT_TRUE(eventually([&] { return port_open(tls_port); }, std::chrono::seconds(20)));
  declare_management_queue();
  const std::string url = "amqps://localhost:" + std::to_string(tls_port);
  Instance& untrusted = add_instance(url, "mgmt", "        ssl-trust-store: " + (other / "ca.pem").string() + "\n");
  Instance& trusted = add_instance(url, "mgmt", "        ssl-trust-store: " + (certs / "ca.pem").string() + "\n");
  EXPECT_TRUE(eventually([&] { return state(trusted) == "active"; }, std::chrono::seconds(15))) << trusted.process().log();
  json health;
  EXPECT_TRUE(eventually([&] {
    health = get(untrusted, "/actuator/health");
    return health.is_object() && health["components"]["leaderElection"]["details"]["session"].get<std::string>().find(
                                     "cannot connect to amqps://localhost") != std::string::npos;
  })) << health.dump() << untrusted.process().log();
  EXPECT_EQ(health["components"]["leaderElection"]["status"], "RECONNECTING") << health.dump();
  EXPECT_EQ(state(untrusted), "standby");
}

// What only AMQP 1.0 has: SASL ANONYMOUS, the message VPN in the Open frame, and errors
// from link attachment.
class ActiveStandbyOverAmqp10 : public ActiveStandby {
 protected:
  void configure_broker(RabbitBroker& b) override {
    b.set_plugins("[rabbitmq_amqp1_0]");
    b.set_config("heartbeat = 1\n");
  }
  std::string session_settings() const override { return "        protocol: amqp-1.0\n"; }
  std::string session_detail(Instance& i) {
    const json h = get(i, "/actuator/health");
    return h.is_object() && h.contains("components")
               ? h["components"]["leaderElection"]["details"]["session"].get<std::string>()
               : std::string();
  }
};

TEST_F(ActiveStandbyOverAmqp10, WithoutAUserItLogsInAnonymouslyIntoTheMessageVpnsVirtualHost) {
  broker->ctl("add_vhost vpn1");
  broker->ctl("set_permissions -p vpn1 guest '.*' '.*' '.*'");
  {
    config::SessionSettings session;
    session.vhost = "vpn1";
    session.username = "guest";
    session.password = "guest";
    amqp::RabbitConnection connection({"amqp", "127.0.0.1", broker->port(), ""}, session, Millis{5000});
    connection.declare_queue("mgmt-in-vpn1", "quorum", true);
    connection.close_gracefully();
  }
  // The queue exists in vpn1 only: found only if msg-vpn reached the broker. No user:
  // ANONYMOUS, which the plugin maps to its default user (guest).
  Instance& a = add_instance(broker->url(), "mgmt-in-vpn1", "        msg-vpn: vpn1\n", "");
  Instance& b = add_instance(broker->url(), "mgmt-in-vpn1", "        msg-vpn: vpn1\n", "");
  const auto first = wait_for_one_active();
  ASSERT_EQ(first.size(), 1u) << a.process().log();
  EXPECT_NE(instances[first[0]]->process().log().find("over AMQP 1.0 (product 'RabbitMQ', queue address "
                                                      "'/amq/queue/mgmt-in-vpn1'"),
            std::string::npos)
      << instances[first[0]]->process().log();
  const std::string consumers = broker->ctl("list_consumers -p vpn1 -q queue_name active");
  EXPECT_NE(consumers.find("mgmt-in-vpn1\ttrue"), std::string::npos) << consumers;
  instances[first[0]]->process().signal(SIGKILL);
  EXPECT_EQ(wait_for_one_active(std::chrono::seconds(10)).size(), 1u) << b.process().log();
}

TEST_F(ActiveStandbyOverAmqp10, AMissingQueueOrAWrongPasswordKeepsTheInstanceStandbyAndHealthSaysWhy) {
  Instance& missing = add_instance(broker->url(), "nowhere");
  Instance& wrong_password = add_instance(broker->url(), "nowhere", "        client-password: wrong\n");
  ASSERT_TRUE(eventually([&] {
    return session_detail(missing).find("cannot receive from management queue 'nowhere' at address "
                                        "'/amq/queue/nowhere'") != std::string::npos;
  })) << session_detail(missing) << missing.process().log();
  EXPECT_NE(session_detail(missing).find("--create-management-queue"), std::string::npos) << session_detail(missing);
  // RabbitMQ answers a refused login only after a delay, often after the client gave up
  // waiting; either way the detail names the keys to check.
  EXPECT_TRUE(eventually([&] {
    const std::string detail = session_detail(wrong_password);
    return detail.find("cannot connect to " + broker->url()) != std::string::npos &&
           detail.find("check client-username and client-password") != std::string::npos;
  })) << session_detail(wrong_password);
  for (auto* i : {&missing, &wrong_password}) EXPECT_EQ(state(*i), "standby");
  // Fixing the queue at run time is picked up without a restart.
  declare_queue(broker->port(), "nowhere", true);
  EXPECT_TRUE(eventually([&] { return state(missing) == "active"; }, std::chrono::seconds(15)))
      << missing.process().log();
  EXPECT_EQ(state(wrong_password), "standby");
  EXPECT_EQ(wrong_password.process().log().find("wrong\n"), std::string::npos);
}

TEST(FileLockFailover, KillNineOfTheLockHolderActivatesTheWaitingInstance) {
  TempDir root("file-lock-failover");
  const fs::path shared = root.path() / "shared";
  fs::create_directories(shared);
  std::vector<std::unique_ptr<Instance>> instances;
  for (int i = 0; i < 2; ++i) {
    const fs::path dir = root.path() / ("i" + std::to_string(i));
    fs::create_directories(dir);
    const int port = free_port();
    instances.push_back(std::make_unique<Instance>(
        dir, active_standby_config(port, "file://" + shared.string(), "leader.lock", shared), port));
    if (i == 0) {
      ASSERT_TRUE(eventually([&] { return instances[0]->process().log().find("state is now active") != std::string::npos; }));
    }
  }
  instances[0]->process().signal(SIGKILL);
  EXPECT_TRUE(eventually([&] { return instances[1]->process().log().find("state is now active (epoch 2)") != std::string::npos; },
                         std::chrono::seconds(5)))
      << instances[1]->process().log();
}

}  // namespace
}  // namespace mi::integration

// active_active sharing the work: two or three real instances consume one input at the same
// time (a RabbitMQ queue, an MQTT topic through a shared subscription, a file spool) from real
// brokers. Each test checks that no message is lost, that none is delivered twice without a
// failure, that every instance takes a share, and counts the duplicates a kill -9 causes.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <thread>
#include <nlohmann/json.hpp>

#include "instance.h"
#include "mosquitto_broker.h"
#include "mqtt/client.h"
#include "rabbit_broker.h"

namespace mi::integration {
namespace {
namespace fs = std::filesystem;

nlohmann::json workflow_json(Instance& i, int id) {
  auto res = i.client().Get("/actuator/workflows/" + std::to_string(id));
  return res && res->status == 200 ? nlohmann::json::parse(res->body) : nlohmann::json::object();
}

bool input_open(Instance& i) {
  const auto w = workflow_json(i, 0);
  return w.value("state", "") == "running" && !w.contains("connection");
}

// Instances of one active_active group, each in its own directory with its own name.
class Group {
 public:
  Group(const fs::path& root, std::string workflow_yaml) : root_(root), workflow_yaml_(std::move(workflow_yaml)) {}

  Instance& start(const std::string& name) {
    const fs::path dir = root_ / name;
    fs::create_directories(dir);
    const int port = free_port();
    auto instance = std::make_unique<Instance>(
        dir, server_and_users_config(port) + "    management.leader-election:\n      mode: active_active\n" +
                 "      instance-name: " + name + "\n" + workflow_yaml_,
        port);
    EXPECT_TRUE(eventually([&] { return input_open(*instance); }, std::chrono::seconds(20)))
        << instance->process().log();
    auto& slot = instances_[name];
    slot = std::move(instance);
    return *slot;
  }
  Instance& operator[](const std::string& name) { return *instances_.at(name); }
  void kill(const std::string& name) {
    auto& i = *instances_.at(name);
    i.process().signal(SIGKILL);
    i.process().wait_exit(std::chrono::seconds(10));
  }
  // Shares of the delivered messages, "a=310 b=290", for the log and the assertions.
  std::map<std::string, int> shares() {
    std::map<std::string, int> out;
    for (auto& [name, i] : instances_) out[name] = i->delivered();
    return out;
  }
  std::string logs() {
    std::string out;
    for (auto& [name, i] : instances_) out += "---- " + name + "\n" + i->process().log();
    return out;
  }

 private:
  fs::path root_;
  std::string workflow_yaml_;
  std::map<std::string, std::unique_ptr<Instance>> instances_;
};

std::string describe(const std::map<std::string, int>& shares) {
  std::string out;
  for (const auto& [name, n] : shares) out += (out.empty() ? "" : " ") + name + "=" + std::to_string(n);
  return out;
}

// Every instance delivered at least a sixth of what it would under an even split.
void expect_each_took_a_share(const std::map<std::string, int>& shares, int total) {
  const int fair = total / static_cast<int>(shares.size());
  for (const auto& [name, n] : shares) EXPECT_GE(n, fair / 6) << name << " took too little: " << describe(shares);
}

struct Tally {
  std::size_t arrived = 0;
  std::size_t distinct = 0;
  std::size_t duplicates() const { return arrived - distinct; }
};
Tally tally(const std::vector<amqp::RabbitConnection::Event>& events) {
  std::set<std::string> distinct;
  for (const auto& e : events) distinct.insert(e.body);
  return {events.size(), distinct.size()};
}

std::string rabbit_binder_yaml(int rabbit_port) {
  return "spring.cloud.stream:\n  binders:\n    rmq: {type: rabbit, environment: {spring.rabbitmq: {host: 127.0.0.1, "
         "port: " + std::to_string(rabbit_port) + "}}}\n";
}

// Writes `count` files named <prefix><i> into `spool` the way writers should: a hidden name,
// then a rename into place.
void drop_files(const fs::path& spool, const std::string& prefix, int count) {
  for (int i = 0; i < count; ++i) {
    const std::string name = prefix + std::to_string(i);
    std::ofstream(spool / ("." + name)) << name;
    fs::rename(spool / ("." + name), spool / name);
  }
}

std::size_t files_in(const fs::path& dir) {
  std::size_t n = 0;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file() && e.path().filename().string()[0] != '.') ++n;
  }
  return n;
}

TEST(ActiveActive, ThreeInstancesShareARabbitQueueAsCompetingConsumersEachWithItsOwnPrefetch) {
  TempDir root("aa-rabbit");
  RabbitBroker rabbit(root.path() / "rabbit");
  rabbit.start();
  declare_queue(rabbit.port(), "work", false);
  declare_queue(rabbit.port(), "done", false);
  Group group(root.path(), "    workflows.0: {enabled: true, acknowledgment: {publish-async: true, "
                           "back-pressure-threshold: 20}}\n" +
                               rabbit_binder_yaml(rabbit.port()) + R"(
  bindings:
    input-0: {destination: work, binder: rmq}
    output-0: {destination: "", binder: rmq}
  rabbit.bindings.output-0.producer.routing-key: done
)");
  for (const char* name : {"a", "b", "c"}) group.start(name);
  // One consumer per instance on the queue, each with the prefetch of its own window.
  const std::string consumers = rabbit.ctl("list_consumers -q queue_name prefetch_count");
  std::size_t work_consumers = 0;
  for (std::size_t at = consumers.find("work\t20"); at != std::string::npos; at = consumers.find("work\t20", at + 1)) {
    ++work_consumers;
  }
  EXPECT_EQ(work_consumers, 3u) << consumers;

  constexpr int kMessages = 3000;
  publish_messages(rabbit.port(), "work", kMessages, "m");
  const Tally t = tally(drain_queue(rabbit.port(), "done", kMessages));
  EXPECT_EQ(t.distinct, static_cast<std::size_t>(kMessages)) << group.logs();
  EXPECT_EQ(t.duplicates(), 0u) << "no failure, yet duplicates";
  const auto shares = group.shares();
  expect_each_took_a_share(shares, kMessages);
  std::printf("rabbit input shared by 3 instances: %d messages, lost %d, duplicates %zu, shares %s\n", kMessages,
              kMessages - static_cast<int>(t.distinct), t.duplicates(), describe(shares).c_str());

  // kill -9 of one instance mid-stream: the broker requeues what it had not acknowledged.
  std::thread producer([&] { publish_messages(rabbit.port(), "work", kMessages, "k"); });
  ASSERT_TRUE(eventually([&] { return group["b"].delivered() > shares.at("b") + 100; }, std::chrono::seconds(30)));
  group.kill("b");
  producer.join();
  const Tally killed = tally(drain_queue(rabbit.port(), "done", kMessages));
  EXPECT_EQ(killed.distinct, static_cast<std::size_t>(kMessages)) << group.logs();
  EXPECT_LE(killed.duplicates(), 20u) << "at most b's window (20) again";
  std::printf("rabbit input, kill -9 of 1 of 3 instances mid-stream: %d messages, lost %d, duplicates %zu\n", kMessages,
              kMessages - static_cast<int>(killed.distinct), killed.duplicates());
}

TEST(ActiveActive, ThreeInstancesShareAFileSpoolEachFileOnceAndAKilledInstancesClaimsAreRecovered) {
  TempDir root("aa-file");
  RabbitBroker rabbit(root.path() / "rabbit");
  rabbit.start();
  declare_queue(rabbit.port(), "files", false);
  const fs::path spool = root.path() / "spool";
  fs::create_directories(spool);
  Group group(root.path(), "    workflows.0: {enabled: true}\n" + rabbit_binder_yaml(rabbit.port()) +
                               "  bindings:\n    input-0: {destination: " + spool.string() + ", binder: file}\n" +
                               R"(    output-0: {destination: "", binder: rmq}
  rabbit.bindings.output-0.producer.routing-key: files
)");
  for (const char* name : {"a", "b", "c"}) group.start(name);

  // Without failures: each file once, every instance a share.
  constexpr int kFiles = 600;
  drop_files(spool, "f", kFiles);
  const Tally t = tally(drain_queue(rabbit.port(), "files", kFiles));
  EXPECT_EQ(t.distinct, static_cast<std::size_t>(kFiles)) << group.logs();
  EXPECT_EQ(t.duplicates(), 0u) << "no failure, yet duplicates";
  const auto shares = group.shares();
  expect_each_took_a_share(shares, kFiles);
  std::printf("file spool shared by 3 instances: %d files, lost %d, duplicates %zu, shares %s\n", kFiles,
              kFiles - static_cast<int>(t.distinct), t.duplicates(), describe(shares).c_str());

  // kill -9 of one instance while files flow: what it had claimed goes back to the spool
  // (its lock died with it) and the others deliver it.
  std::thread writer([&] { drop_files(spool, "g", kFiles); });
  ASSERT_TRUE(eventually([&] { return group["a"].delivered() > shares.at("a") + 30; }, std::chrono::seconds(30)));
  group.kill("a");
  writer.join();
  const Tally after = tally(drain_queue(rabbit.port(), "files", kFiles));
  EXPECT_EQ(after.distinct, static_cast<std::size_t>(kFiles)) << group.logs();
  EXPECT_LE(after.duplicates(), 1u) << "one message in flight (the default window) at the kill";
  // A claim of the killed instance whose message was already sent goes back to the spool
  // only when another instance next looks for abandoned claims (every 2 s), and is then
  // sent again.
  EXPECT_TRUE(eventually([&] { return files_in(spool) == 0u; })) << "the spool and every claim directory are empty";
  std::printf("file spool, kill -9 of 1 of 3 instances mid-stream: %d files, lost %d, duplicates %zu\n", kFiles,
              kFiles - static_cast<int>(after.distinct), after.duplicates());
}

TEST(ActiveActive, TwoInstancesShareAnMqttTopicThroughASharedSubscriptionAndLoseNothingWhenOneIsKilled) {
  TempDir root("aa-mqtt");
  RabbitBroker rabbit(root.path() / "rabbit");
  MosquittoBroker mosquitto(root.path() / "mosquitto");
  rabbit.start();
  mosquitto.start();
  declare_queue(rabbit.port(), "from-mqtt", false);
  // The same client-id on both, as the README advises for active_standby: each instance still
  // gets its own session (<client-id>-<instance>-<binding>).
  // Workflow 1 (a shared spool -> an MQTT topic) gives each instance an MQTT output too.
  const fs::path spool = root.path() / "spool";
  fs::create_directories(spool);
  Group group(root.path(), "    workflows.0: {enabled: true, acknowledgment: {publish-async: true, "
                           "back-pressure-threshold: 10}}\n    workflows.1: {enabled: true}\n" +
                               rabbit_binder_yaml(rabbit.port()) +
                               "    mq: {type: mqtt, environment: {mqtt: {host: 127.0.0.1, port: " +
                               std::to_string(mosquitto.port()) + ", client-id: plant}}}\n" + R"(
  bindings:
    input-0: {destination: "aa/#", binder: mq}
    output-0: {destination: "", binder: rmq}
    output-1: {destination: "from-files", binder: mq}
)" + "    input-1: {destination: " + spool.string() + ", binder: file}\n" +
                               "  rabbit.bindings.output-0.producer.routing-key: from-mqtt\n");
  group.start("a");
  group.start("b");

  const auto publish = [&](const std::string& prefix, int count) {
    mqtt::ClientOptions o;
    o.host = "127.0.0.1";
    o.port = mosquitto.port();
    o.client_id = "publisher-" + prefix;
    o.clean_start = true;
    o.session_expiry_seconds = 0;
    mqtt::Client c(o);
    for (int sent = 0; sent < count; sent += 100) {
      std::vector<std::uint16_t> ids;
      for (int i = sent; i < std::min(count, sent + 100); ++i) {
        ids.push_back(c.publish("aa/line-" + std::to_string(i % 4), prefix + std::to_string(i), 1));
      }
      c.wait_for_acks(ids, std::chrono::seconds(10));
    }
    c.disconnect();
  };

  constexpr int kMessages = 1000;
  publish("m", kMessages);
  const Tally t = tally(drain_queue(rabbit.port(), "from-mqtt", kMessages));
  EXPECT_EQ(t.distinct, static_cast<std::size_t>(kMessages)) << group.logs();
  EXPECT_EQ(t.duplicates(), 0u) << "no failure, yet duplicates";
  const auto shares = group.shares();
  expect_each_took_a_share(shares, kMessages);
  EXPECT_EQ(group.logs().find("closed the connection"), std::string::npos)
      << "the instances took the session from each other";
  std::printf("mqtt topic shared by 2 instances: %d messages, lost %d, duplicates %zu, shares %s\n", kMessages,
              kMessages - static_cast<int>(t.distinct), t.duplicates(), describe(shares).c_str());

  // Both instances publish through their MQTT outputs at once, each as its own client: one
  // client id for both would make each connection take the other's over.
  mqtt::ClientOptions sub;
  sub.host = "127.0.0.1";
  sub.port = mosquitto.port();
  sub.client_id = "files-subscriber";
  mqtt::Client subscriber(sub);
  subscriber.subscribe("from-files", 1);
  drop_files(spool, "file", 200);
  std::set<std::string> published;
  for (const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
       published.size() < 200 && std::chrono::steady_clock::now() < deadline;) {
    if (auto p = subscriber.receive(std::chrono::milliseconds(200))) {
      subscriber.acknowledge(*p);
      published.insert(p->payload);
    }
  }
  EXPECT_EQ(published.size(), 200u) << group.logs();
  EXPECT_EQ(group.logs().find("closed the connection"), std::string::npos)
      << "the instances' MQTT outputs took each other's connection over\n" << group.logs();
  subscriber.disconnect();

  // kill -9 of b mid-stream: Mosquitto keeps b's share in b's session until an instance of that
  // name comes back; restarted, b resumes the session and delivers it.
  std::thread producer([&] { publish("k", kMessages); });
  ASSERT_TRUE(eventually([&] { return group["b"].delivered() > shares.at("b") + 50; }, std::chrono::seconds(30)));
  group.kill("b");
  producer.join();
  group.start("b");
  const Tally killed = tally(drain_queue(rabbit.port(), "from-mqtt", kMessages));
  EXPECT_EQ(killed.distinct, static_cast<std::size_t>(kMessages)) << group.logs();
  EXPECT_LE(killed.duplicates(), 10u) << "at most b's window (10) again";
  std::printf("mqtt shared subscription, kill -9 of 1 of 2 instances and its restart: %d messages, lost %d, "
              "duplicates %zu\n",
              kMessages, kMessages - static_cast<int>(killed.distinct), killed.duplicates());

  // A clean stop leaves the group: with a stays stopped for good, b alone receives everything.
  group["a"].process().signal(SIGTERM);
  ASSERT_EQ(group["a"].process().wait_exit(std::chrono::seconds(30)), 0);
  publish("s", 200);
  const Tally scaled_down = tally(drain_queue(rabbit.port(), "from-mqtt", 200));
  EXPECT_EQ(scaled_down.distinct, 200u) << "messages went to the session of the stopped instance\n" << group.logs();
}

TEST(ActiveActive, TwoInstancesMovingOneSpoolIntoOneDirectoryWriteEachFileOnceWithoutColliding) {
  TempDir root("aa-file-file");
  const fs::path spool = root.path() / "spool";
  const fs::path out = root.path() / "out";
  fs::create_directories(spool);
  Group group(root.path(), "    workflows.0: {enabled: true}\nspring.cloud.stream.bindings:\n  input-0: {destination: " +
                               spool.string() + ", binder: file}\n  output-0: {destination: " + out.string() +
                               ", binder: file}\n");
  group.start("a");
  group.start("b");
  constexpr int kFiles = 300;
  drop_files(spool, "f", kFiles);
  ASSERT_TRUE(eventually([&] { return files_in(out) == 2u * kFiles; }, std::chrono::seconds(60)))
      << files_in(out) << " files in the output\n" << group.logs();
  for (int i = 0; i < kFiles; ++i) {
    const std::string name = "f" + std::to_string(i);
    ASSERT_TRUE(fs::exists(out / name)) << name;
    ASSERT_TRUE(fs::exists(out / (name + ".headers.json"))) << name;
  }
  // The last claims are removed, and the counts moved, after the output file appeared.
  EXPECT_TRUE(eventually([&] {
    const auto shares = group.shares();
    return files_in(spool) == 0u && shares.at("a") + shares.at("b") >= kFiles;
  })) << files_in(spool) << " files left in the spool";
  const auto shares = group.shares();
  EXPECT_EQ(shares.at("a") + shares.at("b"), kFiles) << describe(shares) << ": a file was delivered twice";
  expect_each_took_a_share(shares, kFiles);
  EXPECT_EQ(group.logs().find("cannot rename"), std::string::npos) << group.logs();
}

}  // namespace
}  // namespace mi::integration

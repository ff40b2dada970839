// Workflows through the rabbit binder against a real RabbitMQ broker.
#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <nlohmann/json.hpp>

#include "amqp/connection.h"
#include "instance.h"
#include "rabbit_broker.h"

namespace mi::integration {
namespace {
namespace fs = std::filesystem;
using amqp::RabbitConnection;

std::string config_yaml(int http_port, int broker_port, const fs::path& dir) {
  const std::string env = "{type: rabbit, environment: {spring.rabbitmq: {host: 127.0.0.1, port: " +
                          std::to_string(broker_port) + ", username: guest, password: guest}}}";
  return "server: {address: 127.0.0.1, port: " + std::to_string(http_port) + "}\n" + R"(
solace.connector:
  security.users: [{name: reader, password: reader-secret-pw}]
  workflows: {0: {enabled: true}, 1: {enabled: true}, 2: {enabled: true}, 3: {enabled: true}}
spring.cloud.stream:
  binders:
    broker: )" + env + R"(
    disk: {type: file}
  bindings:
    input-0: {destination: src, binder: broker}
    output-0: {destination: "", binder: broker}
    input-1: {destination: )" + (dir / "to-rabbit").string() + R"(, binder: disk}
    output-1: {destination: "", binder: broker}
    input-2: {destination: from-file, binder: broker}
    output-2: {destination: )" + (dir / "from-rabbit").string() + R"(, binder: disk}
    input-3: {destination: src-unroutable, binder: broker}
    output-3: {destination: amq.direct, binder: broker}
  rabbit.bindings:
    input-0.consumer.prefetch: 20
    output-0.producer.routing-key: dst
    output-1.producer.routing-key: from-file
    output-3.producer.routing-key: bound-to-nothing
)";
}

// A publisher frozen between its gate check and the write writes on resuming: the rabbit
// output publishes with publish_fenced(), which asks the gate again once the message is
// written, before it leaves. Here the lease has already run out when it is called, which is
// what that second question sees.
TEST(RabbitConnection, PublicationWrittenAfterTheLeaseRanOutNeverReachesTheQueue) {
  TempDir root("rabbit-fenced-write");
  RabbitBroker broker(root.path() / "broker");
  broker.start();
  declare_queue(broker.port(), "fenced", false);
  FencingGate lease;
  lease.open_until(std::chrono::steady_clock::now() + std::chrono::hours(1), 1);
  auto publisher = connect_to_rabbit(broker.port());
  publisher->enable_confirms();
  const auto tag = publisher->publish_fenced(&lease, "", "fenced", "in time", {});
  ASSERT_TRUE(tag);
  const auto confirms = publisher->await_confirms(*tag, 1, Millis{5000}, &lease);
  ASSERT_FALSE(confirms.lost);
  EXPECT_EQ(confirms.each[0].kind, RabbitConnection::Confirm::kAck);

  lease.close();
  EXPECT_FALSE(publisher->publish_fenced(&lease, "", "fenced", "too late", {}));
  publisher.reset();  // reset already; this only frees it

  auto consumer = connect_to_rabbit(broker.port());
  consumer->consume("fenced", 10);
  std::vector<std::string> arrived;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (std::chrono::steady_clock::now() < until) {
    const auto e = consumer->next_event(Millis{100});
    if (e.kind == RabbitConnection::Event::kDelivery) arrived.push_back(e.body);
  }
  EXPECT_EQ(arrived, std::vector<std::string>{"in time"});
}

TEST(RabbitBinder, MovesMessagesBetweenQueuesAndFilesWithHeadersAndConfirms) {
  TempDir root("rabbit-binder");
  RabbitBroker broker(root.path() / "broker");
  broker.start();
  for (const char* q : {"src", "dst", "from-file", "src-unroutable"}) declare_queue(broker.port(), q, false);
  publish_messages(broker.port(), "src", 300, "m");
  publish_messages(broker.port(), "src-unroutable", 1, "stuck");
  fs::create_directories(root.path() / "to-rabbit");
  write_file(root.path() / "to-rabbit" / "file-1", "from a file");

  const int port = free_port();
  Instance instance(root.path(), config_yaml(port, broker.port(), root.path()), port);

  // rabbit -> rabbit: all 300, in order, with properties and headers.
  const auto moved = drain_queue(broker.port(), "dst", 300);
  ASSERT_EQ(moved.size(), 300u) << instance.process().log();  // no broker restart: no duplicates
  for (size_t i = 0; i < moved.size(); ++i) {
    EXPECT_EQ(moved[i].body, "m" + std::to_string(i));
    EXPECT_EQ(moved[i].headers.at("correlation-id"), "corr-" + std::to_string(i));
    EXPECT_EQ(moved[i].headers.at("content-type"), "text/plain");
    EXPECT_EQ(moved[i].headers.at("x-custom"), "v" + std::to_string(i));
  }
  // file -> rabbit -> file: the payload and the file name arrive.
  ASSERT_TRUE(eventually([&] { return fs::exists(root.path() / "from-rabbit" / "file-1"); })) << instance.process().log();
  EXPECT_EQ(read_file(root.path() / "from-rabbit" / "file-1"), "from a file");
  // Removed once the broker confirmed it to workflow 1, which may come after workflow 2 wrote it.
  EXPECT_TRUE(eventually([&] { return !fs::exists(root.path() / "to-rabbit" / "file-1"); }));
  // An unroutable message is never acknowledged: it stays in its source queue.
  auto client = instance.client();
  std::string workflow3;
  // The count moves just before the error is recorded.
  ASSERT_TRUE(eventually([&] {
    auto got = client.Get("/actuator/workflows/3");
    if (!got) return false;
    workflow3 = got->body;
    return nlohmann::json::parse(workflow3)["messages"]["failed"].get<int>() >= 1 &&
           workflow3.find("unroutable") != std::string::npos;
  })) << workflow3 << instance.process().log();
  EXPECT_EQ(nlohmann::json::parse(workflow3)["messages"]["delivered"], 0);
  instance.process().signal(SIGTERM);
  EXPECT_EQ(instance.process().wait_exit(std::chrono::seconds(20)), 0);
  const auto stuck = drain_queue(broker.port(), "src-unroutable", 1);
  ASSERT_EQ(stuck.size(), 1u);
  EXPECT_EQ(stuck[0].body, "stuck0");
}

TEST(RabbitBinder, OutputBrokerStoppedMidStreamLosesNothing) {
  TempDir root("rabbit-output-restart");
  RabbitBroker source(root.path() / "source");
  RabbitBroker target(root.path() / "target");
  source.start();
  target.start();
  declare_queue(source.port(), "in", false);
  declare_queue(target.port(), "out", false);
  constexpr int kMessages = 400;
  publish_messages(source.port(), "in", kMessages, "n");

  const int port = free_port();
  const std::string yaml = "server: {address: 127.0.0.1, port: " + std::to_string(port) + "}\n" +
                           R"(
solace.connector:
  security.users: [{name: reader, password: reader-secret-pw}]
  workflows.0.enabled: true
spring.cloud.stream:
  binders:
    a: {type: rabbit, environment: {spring.rabbitmq: {host: 127.0.0.1, port: )" + std::to_string(source.port()) + R"(}}}
    b: {type: rabbit, environment: {spring.rabbitmq: {host: 127.0.0.1, port: )" + std::to_string(target.port()) + R"(}}}
  bindings:
    input-0: {destination: in, binder: a}
    output-0: {destination: "", binder: b}
  rabbit.bindings.output-0.producer.routing-key: out
)";
  Instance instance(root.path(), yaml, port);
  ASSERT_TRUE(eventually([&] { return instance.delivered() > 20; })) << instance.process().log();
  target.stop();
  const int at_stop = instance.delivered();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_LT(instance.delivered(), at_stop + 2);  // at most the message in hand got through
  target.start();
  ASSERT_TRUE(eventually([&] { return instance.delivered() >= kMessages; }, std::chrono::seconds(60))) << instance.process().log();

  // Everything published before the stop is in the target queue at least once.
  const auto arrived = drain_queue(target.port(), "out", kMessages);
  std::set<std::string> distinct;
  for (const auto& e : arrived) distinct.insert(e.body);
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kMessages)) << "lost " << kMessages - static_cast<int>(distinct.size());
  std::printf("output broker restart: %d messages, %zu arrivals, %zu duplicates\n", kMessages, arrived.size(),
              arrived.size() - distinct.size());
}

TEST(RabbitBinder, KillNineOfTheActiveUnderLoadLosesNothing) {
  TempDir root("rabbit-failover-load");
  RabbitBroker broker(root.path() / "broker");
  broker.start();
  declare_queue(broker.port(), "mgmt", true);
  declare_queue(broker.port(), "in", false);
  declare_queue(broker.port(), "out", false);
  constexpr int kMessages = 1500;
  std::thread producer([&] {
    for (int batch = 0; batch < kMessages / 50; ++batch) {
      publish_messages(broker.port(), "in", 50, "b" + std::to_string(batch) + "-");
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
    }
  });
  const std::string data = "{type: rabbit, environment: {spring.rabbitmq: {host: 127.0.0.1, port: " +
                           std::to_string(broker.port()) + "}}}";
  std::vector<std::unique_ptr<Instance>> instances;
  for (int i = 0; i < 2; ++i) {
    const fs::path dir = root.path() / ("i" + std::to_string(i));
    fs::create_directories(dir);
    const int port = free_port();
    instances.push_back(std::make_unique<Instance>(dir, "server: {address: 127.0.0.1, port: " + std::to_string(port) + "}\n" + R"(
solace.connector:
  management:
    leader-election.mode: active_standby
    queue: mgmt
    session: {host: 'amqp://127.0.0.1:)" + std::to_string(broker.port()) + R"(', client-username: guest, client-password: guest}
  security.users: [{name: reader, password: reader-secret-pw}]
  workflows.0.enabled: true
  default.workflow.acknowledgment: {publish-async: true, back-pressure-threshold: 100}
spring.cloud.stream:
  binders.data: )" + data + R"(
  bindings:
    input-0: {destination: in, binder: data}
    output-0: {destination: "", binder: data}
  rabbit.bindings.output-0.producer.routing-key: out
)", port));
  }
  auto is_active = [&](Instance& i) {
    auto res = i.client().Get("/actuator/leaderelection");
    return res && res->body.find("\"active\"") != std::string::npos;
  };
  size_t active = 2;
  ASSERT_TRUE(eventually([&] {
    for (size_t i = 0; i < 2; ++i)
      if (is_active(*instances[i]) && instances[i]->delivered() > 200) active = i;
    return active < 2;
  }, std::chrono::seconds(30)));
  instances[active]->process().signal(SIGKILL);  // mid-stream
  Instance& survivor = *instances[1 - active];
  producer.join();
  const auto arrived = drain_queue(broker.port(), "out", kMessages);
  std::set<std::string> distinct;
  std::set<std::string> epochs;
  for (const auto& e : arrived) {
    distinct.insert(e.body);
    epochs.insert(e.headers.count("x-leader-epoch") ? e.headers.at("x-leader-epoch") : "none");
  }
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kMessages)) << survivor.process().log();
  EXPECT_EQ(epochs.size(), 2u) << "messages of both terms, each stamped with its epoch";
  EXPECT_EQ(epochs.count("none"), 0u);
  std::printf("kill -9 under load: %d messages, lost %d, duplicates %zu\n", kMessages,
              kMessages - static_cast<int>(distinct.size()), arrived.size() - distinct.size());
}

}  // namespace
}  // namespace mi::integration

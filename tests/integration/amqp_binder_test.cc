// Workflows through the amqp (AMQP 1.0) binder against a real broker: RabbitMQ with its AMQP
// 1.0 plugin, fed and drained over AMQP 0-9-1 by the test.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>
#include <thread>

#include "instance.h"
#include "rabbit_broker.h"

namespace mi::integration {
namespace {
namespace fs = std::filesystem;

std::string amqp_binder(int port) {
  return "{type: amqp, environment: {amqp: {host: 127.0.0.1, port: " + std::to_string(port) +
         ", username: guest, password: guest}}}";
}
std::string rabbit_binder(int port) {
  return "{type: rabbit, environment: {spring.rabbitmq: {host: 127.0.0.1, port: " + std::to_string(port) + "}}}";
}

void start_with_amqp10(RabbitBroker& broker) {
  broker.set_plugins("[rabbitmq_amqp1_0]");
  broker.start();
}

// rabbit -> amqp -> rabbit: every message, in order, with its properties and headers. The
// amqp binder names two brokers, the first of which is not there: both bindings go on to the
// second.
TEST(AmqpBinder, CarriesMessagesThroughAnAmqp10QueueWithTheirHeaders) {
  TempDir root("amqp-binder");
  RabbitBroker broker(root.path() / "broker");
  start_with_amqp10(broker);
  for (const char* q : {"src", "mid", "dst"}) declare_queue(broker.port(), q, false);
  constexpr int kMessages = 300;
  publish_messages(broker.port(), "src", kMessages, "m");

  const int port = free_port();
  const std::string yaml = "server: {address: 127.0.0.1, port: " + std::to_string(port) + "}\n" + R"(
solace.connector:
  security.users: [{name: reader, password: reader-secret-pw}]
  workflows: {0: {enabled: true}, 1: {enabled: true}}
spring.cloud.stream:
  binders:
    rabbit: )" + rabbit_binder(broker.port()) + R"(
    amqp10: {type: amqp, environment: {amqp: {host: '127.0.0.1:)" + std::to_string(free_port()) + ",127.0.0.1:" +
                           std::to_string(broker.port()) + R"(', username: guest, password: guest}}}
  bindings:
    input-0: {destination: src, binder: rabbit}
    output-0: {destination: mid, binder: amqp10}
    input-1: {destination: mid, binder: amqp10}
    output-1: {destination: "", binder: rabbit}
  rabbit.bindings.output-1.producer.routing-key: dst
)";
  Instance instance(root.path(), yaml, port);
  const auto moved = drain_queue(broker.port(), "dst", kMessages);
  ASSERT_EQ(moved.size(), static_cast<size_t>(kMessages)) << instance.process().log();
  for (size_t i = 0; i < moved.size(); ++i) {
    EXPECT_EQ(moved[i].body, "m" + std::to_string(i));
    EXPECT_EQ(moved[i].headers.at("correlation-id"), "corr-" + std::to_string(i));
    EXPECT_EQ(moved[i].headers.at("content-type"), "text/plain");
    EXPECT_EQ(moved[i].headers.at("x-custom"), "v" + std::to_string(i));
  }
  const std::string log = instance.process().log();
  const std::string second = " on amqp://127.0.0.1:" + std::to_string(broker.port()) + " ";
  EXPECT_NE(log.find("output-0: sending to '/amq/queue/mid'" + second), std::string::npos) << log;
  EXPECT_NE(log.find("input-1: receiving from '/amq/queue/mid'" + second), std::string::npos) << log;
  instance.process().signal(SIGTERM);
  EXPECT_EQ(instance.process().wait_exit(std::chrono::seconds(20)), 0);
  // Nothing left behind, nothing taken twice.
  EXPECT_TRUE(drain_queue(broker.port(), "mid", 0).empty());
}

// One rabbit <-> amqp workflow (publish-async, 20 in flight) from queue "in" on `source` to
// queue "out" on `target`; `target` stops for 2 s while it runs. Every one of the 400
// messages must arrive at least once; the instance is stopped with SIGTERM at the end.
void every_message_arrives_through_a_target_restart(RabbitBroker& source, RabbitBroker& target, bool amqp_input,
                                                   const fs::path& dir) {
  declare_queue(source.port(), "in", false);
  declare_queue(target.port(), "out", false);
  constexpr int kMessages = 400;
  publish_messages(source.port(), "in", kMessages, "n");
  const int port = free_port();
  const std::string yaml = "server: {address: 127.0.0.1, port: " + std::to_string(port) + "}\n" + R"(
solace.connector:
  security.users: [{name: reader, password: reader-secret-pw}]
  workflows.0: {enabled: true, acknowledgment: {publish-async: true, back-pressure-threshold: 20}}
spring.cloud.stream:
  binders:
    a: )" + (amqp_input ? amqp_binder(source.port()) : rabbit_binder(source.port())) + R"(
    b: )" + (amqp_input ? rabbit_binder(target.port()) : amqp_binder(target.port())) + R"(
  bindings:
    input-0: {destination: in, binder: a, consumer: {back-off-initial-interval: 200, back-off-max-interval: 1000}}
    output-0: {destination: )" + (amqp_input ? "\"\"" : "out") + R"(, binder: b}
)" + (amqp_input ? "  rabbit.bindings.output-0.producer.routing-key: out\n" : "");
  Instance instance(dir, yaml, port);
  ASSERT_TRUE(eventually([&] { return instance.delivered() > 20; })) << instance.process().log();
  target.stop();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  target.start();
  ASSERT_TRUE(eventually([&] { return instance.delivered() >= kMessages; }, std::chrono::seconds(60)))
      << instance.process().log();
  const auto arrived = drain_queue(target.port(), "out", kMessages);
  std::set<std::string> distinct;
  for (const auto& e : arrived) distinct.insert(e.body);
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kMessages)) << "lost " << kMessages - static_cast<int>(distinct.size());
  instance.process().signal(SIGTERM);
  EXPECT_EQ(instance.process().wait_exit(std::chrono::seconds(20)), 0);
}

// The broker behind an amqp output stops and comes back: a message counts as stored only
// when that broker settled it, so every message arrives at least once.
TEST(AmqpBinder, OutputBrokerStoppedMidStreamLosesNothing) {
  TempDir root("amqp-output-restart");
  RabbitBroker source(root.path() / "source");
  RabbitBroker target(root.path() / "target");
  source.start();
  start_with_amqp10(target);
  every_message_arrives_through_a_target_restart(source, target, /*amqp_input=*/false, root.path());
}

// The output's broker goes away while the amqp input holds messages in flight: a message is
// accepted at its queue only after the output stored it (the others are released back to
// it), so none is lost and none is left behind.
TEST(AmqpBinder, InputSettlesOnlyWhatTheOutputStored) {
  TempDir root("amqp-input-settle");
  RabbitBroker source(root.path() / "source");
  RabbitBroker target(root.path() / "target");
  start_with_amqp10(source);
  target.start();
  every_message_arrives_through_a_target_restart(source, target, /*amqp_input=*/true, root.path());
  EXPECT_TRUE(drain_queue(source.port(), "in", 0).empty());  // all settled at the source
}

}  // namespace
}  // namespace mi::integration

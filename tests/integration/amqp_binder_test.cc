// Workflows through the amqp (AMQP 1.0) binder against a real broker, each test on two:
// RabbitMQ with its AMQP 1.0 plugin (fed and drained over AMQP 0-9-1 by the test), and
// ActiveMQ Artemis (fed and drained over AMQP 1.0, with the product's own client).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>
#include <thread>

#include "amqp10/client.h"
#include "artemis_broker.h"
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

// The broker on the amqp binder's side of a test: RabbitMQ with its AMQP 1.0 plugin, or
// ActiveMQ Artemis. Queues are declared before start().
class AmqpSideBroker {
 public:
  AmqpSideBroker(const std::string& kind, const fs::path& dir) {
    if (kind == "artemis") {
      artemis_ = std::make_unique<ArtemisBroker>(dir, "guest", "guest");
    } else {
      rabbit_ = std::make_unique<RabbitBroker>(dir);
      rabbit_->set_plugins("[rabbitmq_amqp1_0]");
    }
  }
  void declare(const std::string& queue) {
    if (artemis_) {
      artemis_->add_shared_queue(queue);
    } else {
      queues_.push_back(queue);
    }
  }
  void start() {
    if (artemis_) return artemis_->start();
    rabbit_->start();
    for (const auto& q : queues_) declare_queue(rabbit_->port(), q, false);
  }
  void stop() { artemis_ ? artemis_->stop() : rabbit_->stop(); }
  int amqp_port() const { return artemis_ ? artemis_->amqp_port() : rabbit_->port(); }
  // What the binder's log calls queue `q`.
  std::string address(const std::string& q) const { return artemis_ ? q : "/amq/queue/" + q; }

  // Publishes <prefix>0 .. <prefix><count-1>, each stored (confirmed or accepted).
  void publish(const std::string& queue, int count, const std::string& prefix) {
    if (rabbit_) return publish_messages(rabbit_->port(), queue, count, prefix);
    amqp10::Client client(endpoint(), Millis{10000});
    client.open_sender(queue, Millis{10000});
    std::vector<std::uint64_t> tickets;
    for (int i = 0; i < count; ++i) tickets.push_back(client.send(prefix + std::to_string(i), {}, nullptr));
    for (const auto& answer : client.await(tickets, Millis{30000}, nullptr)) {
      if (answer.kind != amqp10::SendAnswer::Kind::kAccepted) throw std::runtime_error("not stored: " + answer.text);
    }
  }
  // Takes the bodies of up to `expected` messages off the queue (waiting up to 30 s for them,
  // then a second more for any extra); 0: whatever is there within a second.
  std::vector<std::string> drain(const std::string& queue, size_t expected) {
    std::vector<std::string> out;
    if (rabbit_) {
      for (const auto& e : drain_queue(rabbit_->port(), queue, expected)) out.push_back(e.body);
      return out;
    }
    amqp10::Client client(endpoint(), Millis{10000});
    client.open_receiver(queue, 100, Millis{10000});
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (true) {
      const bool enough = out.size() >= expected;
      auto received = client.receive(enough ? Millis{1000} : Millis{200});
      if (!received) {
        if (enough || std::chrono::steady_clock::now() > deadline) break;
        continue;
      }
      client.accept(received->tag);
      out.push_back(std::move(received->body));
    }
    return out;
  }

 private:
  amqp10::Endpoint endpoint() const {
    amqp10::Endpoint e;
    e.address.scheme = "amqp";
    e.address.host = "127.0.0.1";
    e.address.port = artemis_->amqp_port();
    e.username = "guest";
    e.password = "guest";
    return e;
  }

  std::unique_ptr<RabbitBroker> rabbit_;  // with its AMQP 1.0 plugin
  std::unique_ptr<ArtemisBroker> artemis_;
  std::vector<std::string> queues_;  // to declare on RabbitMQ once it runs
};

class AmqpBinder : public ::testing::TestWithParam<std::string> {};

INSTANTIATE_TEST_SUITE_P(Broker, AmqpBinder, ::testing::Values("rabbitmq", "artemis"),
                         [](const ::testing::TestParamInfo<std::string>& param) { return param.param; });

// rabbit -> amqp -> rabbit: every message, in order, with its properties and headers. The
// amqp binder names two brokers, the first of which is not there: both bindings go on to the
// second.
TEST_P(AmqpBinder, CarriesMessagesThroughAnAmqp10QueueWithTheirHeaders) {
  TempDir root("amqp-binder");
  RabbitBroker broker(root.path() / "broker");
  broker.start();
  for (const char* q : {"src", "dst"}) declare_queue(broker.port(), q, false);
  AmqpSideBroker amqp_side(GetParam(), root.path() / "amqp-side");
  amqp_side.declare("mid");
  amqp_side.start();
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
                           std::to_string(amqp_side.amqp_port()) + R"(', username: guest, password: guest}}}
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
  const std::string second = "' on amqp://127.0.0.1:" + std::to_string(amqp_side.amqp_port()) + " ";
  EXPECT_NE(log.find("output-0: sending to '" + amqp_side.address("mid") + second), std::string::npos) << log;
  EXPECT_NE(log.find("input-1: receiving from '" + amqp_side.address("mid") + second), std::string::npos) << log;
  instance.process().signal(SIGTERM);
  EXPECT_EQ(instance.process().wait_exit(std::chrono::seconds(20)), 0);
  // Nothing left behind, nothing taken twice.
  EXPECT_TRUE(amqp_side.drain("mid", 0).empty());
}

// One rabbit <-> amqp workflow (publish-async, 20 in flight) from queue "in" to queue "out",
// the amqp side on `amqp_side` (input or output, as `amqp_input` says), the other on
// `rabbit`; the target stops for 2 s while it runs. Every one of the 400 messages must arrive
// at least once; the instance is stopped with SIGTERM at the end.
void every_message_arrives_through_a_target_restart(AmqpSideBroker& amqp_side, RabbitBroker& rabbit, bool amqp_input,
                                                   const fs::path& dir) {
  amqp_side.declare(amqp_input ? "in" : "out");
  amqp_side.start();
  rabbit.start();
  declare_queue(rabbit.port(), amqp_input ? "out" : "in", false);
  constexpr int kMessages = 400;
  if (amqp_input) {
    amqp_side.publish("in", kMessages, "n");
  } else {
    publish_messages(rabbit.port(), "in", kMessages, "n");
  }
  const int port = free_port();
  const std::string yaml = "server: {address: 127.0.0.1, port: " + std::to_string(port) + "}\n" + R"(
solace.connector:
  security.users: [{name: reader, password: reader-secret-pw}]
  workflows.0: {enabled: true, acknowledgment: {publish-async: true, back-pressure-threshold: 20}}
spring.cloud.stream:
  binders:
    a: )" + (amqp_input ? amqp_binder(amqp_side.amqp_port()) : rabbit_binder(rabbit.port())) + R"(
    b: )" + (amqp_input ? rabbit_binder(rabbit.port()) : amqp_binder(amqp_side.amqp_port())) + R"(
  bindings:
    input-0: {destination: in, binder: a, consumer: {back-off-initial-interval: 200, back-off-max-interval: 1000}}
    output-0: {destination: )" + (amqp_input ? "\"\"" : "out") + R"(, binder: b}
)" + (amqp_input ? "  rabbit.bindings.output-0.producer.routing-key: out\n" : "");
  Instance instance(dir, yaml, port);
  ASSERT_TRUE(eventually([&] { return instance.delivered() > 20; })) << instance.process().log();
  if (amqp_input) {
    rabbit.stop();
    std::this_thread::sleep_for(std::chrono::seconds(2));
    rabbit.start();
  } else {
    amqp_side.stop();
    std::this_thread::sleep_for(std::chrono::seconds(2));
    amqp_side.start();
  }
  ASSERT_TRUE(eventually([&] { return instance.delivered() >= kMessages; }, std::chrono::seconds(60)))
      << instance.process().log();
  std::set<std::string> distinct;
  if (amqp_input) {
    for (const auto& e : drain_queue(rabbit.port(), "out", kMessages)) distinct.insert(e.body);
  } else {
    for (auto& body : amqp_side.drain("out", kMessages)) distinct.insert(std::move(body));
  }
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kMessages)) << "lost " << kMessages - static_cast<int>(distinct.size());
  instance.process().signal(SIGTERM);
  EXPECT_EQ(instance.process().wait_exit(std::chrono::seconds(20)), 0);
}

// The broker behind an amqp output stops and comes back: a message counts as stored only
// when that broker settled it, so every message arrives at least once.
TEST_P(AmqpBinder, OutputBrokerStoppedMidStreamLosesNothing) {
  TempDir root("amqp-output-restart");
  RabbitBroker source(root.path() / "source");
  AmqpSideBroker target(GetParam(), root.path() / "target");
  every_message_arrives_through_a_target_restart(target, source, /*amqp_input=*/false, root.path());
}

// The output's broker goes away while the amqp input holds messages in flight: a message is
// accepted at its queue only after the output stored it (the others are released back to
// it), so none is lost and none is left behind.
TEST_P(AmqpBinder, InputSettlesOnlyWhatTheOutputStored) {
  TempDir root("amqp-input-settle");
  AmqpSideBroker source(GetParam(), root.path() / "source");
  RabbitBroker target(root.path() / "target");
  every_message_arrives_through_a_target_restart(source, target, /*amqp_input=*/true, root.path());
  EXPECT_TRUE(source.drain("in", 0).empty());  // all settled at the source
}

}  // namespace
}  // namespace mi::integration

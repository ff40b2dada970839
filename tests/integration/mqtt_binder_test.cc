// Workflows through the mqtt binder: the real binary with real RabbitMQ and a real MQTT
// broker, each test on Mosquitto and on ActiveMQ Artemis's MQTT acceptor.
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <set>
#include <thread>
#include <nlohmann/json.hpp>

#include "instance.h"
#include "mqtt_test_broker.h"
#include "mqtt/client.h"
#include "rabbit_broker.h"

namespace mi::integration {
namespace {
namespace fs = std::filesystem;

// Publishes <prefix>0 .. <prefix><count-1> with QoS 1, content type, correlation data and a
// user property, and waits for every PUBACK.
void publish_mqtt(const MqttTestBroker& broker, const std::string& topic, int count, const std::string& prefix) {
  mqtt::Client c(broker.options("test-publisher"));
  std::vector<std::uint16_t> ids;
  for (int i = 0; i < count; ++i) {
    mqtt::PublishProperties p;
    p.content_type = "text/plain";
    p.correlation_data = "corr-" + std::to_string(i);
    p.user_properties = {{"x-custom", "v" + std::to_string(i)}};
    ids.push_back(c.publish(topic, prefix + std::to_string(i), 1, p));
  }
  c.wait_for_acks(ids, std::chrono::seconds(10));
  c.disconnect();
}

// Receives (and acknowledges) until `expected` arrived and the topic was quiet for a second.
std::vector<mqtt::Publication> collect(mqtt::Client& c, size_t expected, std::chrono::seconds limit) {
  std::vector<mqtt::Publication> out;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  auto last = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() < deadline) {
    auto p = c.receive(std::chrono::milliseconds(100));
    if (!p) {
      if (out.size() >= expected && std::chrono::steady_clock::now() - last > std::chrono::seconds(1)) break;
      continue;
    }
    c.acknowledge(*p);
    out.push_back(std::move(*p));
    last = std::chrono::steady_clock::now();
  }
  return out;
}

// Where two payload lists part: their sizes and the first index that differs, with what is
// there on each side (long payloads abbreviated), for a failure message gtest would truncate.
std::string first_difference(const std::vector<std::string>& got, const std::vector<std::string>& expected) {
  const auto show = [](const std::vector<std::string>& v, size_t i) {
    if (i >= v.size()) return std::string("(end)");
    return v[i].size() > 16 ? v[i].substr(0, 8) + "...(" + std::to_string(v[i].size()) + " bytes)" : v[i];
  };
  size_t i = 0;
  while (i < got.size() && i < expected.size() && got[i] == expected[i]) ++i;
  std::string out = "got " + std::to_string(got.size()) + " payloads, expected " + std::to_string(expected.size()) +
                    "; first difference at index " + std::to_string(i) + ":";
  for (size_t k = i; k < i + 4; ++k) out += " [" + show(got, k) + " vs " + show(expected, k) + "]";
  return out;
}

std::string header(const mqtt::Publication& p, const std::string& key) {
  for (const auto& [k, v] : p.user_properties)
    if (k == key) return v;
  return "";
}

nlohmann::json workflow_json(Instance& i, int id) {
  auto res = i.client().Get("/actuator/workflows/" + std::to_string(id));
  return res ? nlohmann::json::parse(res->body) : nlohmann::json::object();
}

std::string binders_yaml(int rabbit_port, const MqttTestBroker& mqtt) {
  return "  binders:\n    rmq: {type: rabbit, environment: {spring.rabbitmq: {host: 127.0.0.1, port: " +
         std::to_string(rabbit_port) + "}}}\n    mq: {type: mqtt, environment: " + mqtt.environment("it") + "}\n";
}

class MqttBinder : public ::testing::TestWithParam<std::string> {};

INSTANTIATE_TEST_SUITE_P(Broker, MqttBinder, ::testing::Values("mosquitto", "artemis"),
                         [](const ::testing::TestParamInfo<std::string>& param) { return param.param; });

TEST_P(MqttBinder, RabbitToMqttAndBackWithHeadersAndAMessageTheBrokerRefusesDeadLettered) {
  TempDir root("mqtt-binder");
  RabbitBroker rabbit(root.path() / "rabbit");
  MqttTestBroker mqtt_broker(GetParam(), root.path() / "mqtt");
  // Mosquitto refuses packets over 64 KiB (and says so in CONNACK): a larger message is
  // poison for an MQTT output. Artemis takes it: there it is one more message.
  mqtt_broker.limit_packet_size(65536);
  const bool poison = mqtt_broker.limits_packet_size();
  rabbit.start();
  mqtt_broker.start();
  for (const char* q : {"r2m", "r2m.dlq", "m2r"}) declare_queue(rabbit.port(), q, false);
  mqtt::Client subscriber(mqtt_broker.options("test-subscriber"));
  subscriber.subscribe("r2m/out", 1);

  constexpr int kMessages = 300;
  publish_messages(rabbit.port(), "r2m", kMessages / 2, "a");
  const std::string big(100 * 1024, 'x');
  {
    auto c = connect_to_rabbit(rabbit.port());
    c->enable_confirms();
    c->publish_confirmed("", "r2m", big, {{"x-custom", "poison"}}, Millis{5000});
    c->close_gracefully();
  }
  publish_messages(rabbit.port(), "r2m", kMessages / 2, "b");

  const int port = free_port();
  Instance instance(root.path(), "server: {address: 127.0.0.1, port: " + std::to_string(port) + "}\n" + R"(
solace.connector:
  security.users: [{name: reader, password: reader-secret-pw}]
  workflows:
    0: {enabled: true, acknowledgment: {publish-async: true, back-pressure-threshold: 50}}
    1: {enabled: true}
spring.cloud.stream:
)" + binders_yaml(rabbit.port(), mqtt_broker) + R"(
  bindings:
    input-0: {destination: r2m, binder: rmq, consumer: {max-attempts: 2, back-off-initial-interval: 100}}
    output-0: {destination: r2m/out, binder: mq}
    input-1: {destination: "m2r/#", binder: mq}
    output-1: {destination: "", binder: rmq}
  rabbit.bindings:
    input-0.consumer.dead-letter-routing-key: r2m.dlq
    output-1.producer.routing-key: m2r
)", port);

  // rabbit -> mqtt: every message once, in order (where the broker keeps it), properties
  // mapped; the poison one aside.
  const size_t carried = kMessages + (poison ? 0 : 1);
  const auto arrived = collect(subscriber, carried, std::chrono::seconds(60));
  std::vector<std::string> expected;
  for (int i = 0; i < kMessages / 2; ++i) expected.push_back("a" + std::to_string(i));
  if (!poison) expected.push_back(big);
  for (int i = 0; i < kMessages / 2; ++i) expected.push_back("b" + std::to_string(i));
  std::vector<std::string> got;
  for (const auto& p : arrived) got.push_back(p.payload);
  if (!mqtt_broker.keeps_order()) {
    std::sort(got.begin(), got.end());
    std::sort(expected.begin(), expected.end());
  }
  EXPECT_TRUE(got == expected) << first_difference(got, expected) << "\n" << instance.process().log();
  const auto a7 = std::find_if(arrived.begin(), arrived.end(), [](const auto& p) { return p.payload == "a7"; });
  ASSERT_NE(a7, arrived.end());
  EXPECT_EQ(a7->content_type, "text/plain");
  EXPECT_EQ(a7->correlation_data, "corr-7");
  EXPECT_EQ(header(*a7, "x-custom"), "v7");
  const auto w0 = workflow_json(instance, 0);
  if (poison) {
    const auto dead = drain_queue(rabbit.port(), "r2m.dlq", 1);
    ASSERT_EQ(dead.size(), 1u) << instance.process().log();
    EXPECT_EQ(dead[0].body.size(), 100u * 1024);
    EXPECT_EQ(dead[0].headers.at("x-custom"), "poison");
    EXPECT_NE(dead[0].headers.at("x-exception-message").find("packet"), std::string::npos)
        << dead[0].headers.at("x-exception-message");
    EXPECT_EQ(dead[0].headers.at("x-original-queue"), "r2m");
    EXPECT_EQ(w0["messages"]["deadLettered"], 1) << w0;
    EXPECT_EQ(w0["messages"]["retried"], 1) << w0;  // max-attempts 2
  } else {
    EXPECT_EQ(w0["messages"]["deadLettered"], 0) << w0;
  }
  EXPECT_EQ(w0["messages"]["delivered"], static_cast<int>(carried)) << w0;

  // mqtt -> rabbit: user properties, content type and correlation data become AMQP
  // headers and properties; the topic travels as mqtt_receivedTopic.
  publish_mqtt(mqtt_broker, "m2r/sensors", kMessages, "m");
  auto back = drain_queue(rabbit.port(), "m2r", kMessages);
  ASSERT_EQ(back.size(), static_cast<size_t>(kMessages)) << instance.process().log();
  if (!mqtt_broker.keeps_order()) {
    std::sort(back.begin(), back.end(),
              [](const auto& x, const auto& y) { return std::stoi(x.body.substr(1)) < std::stoi(y.body.substr(1)); });
  }
  for (int i = 0; i < kMessages; ++i) {
    const auto& e = back[static_cast<size_t>(i)];
    EXPECT_EQ(e.body, "m" + std::to_string(i));
    EXPECT_EQ(e.headers.at("content-type"), "text/plain");
    EXPECT_EQ(e.headers.at("correlation-id"), "corr-" + std::to_string(i));
    EXPECT_EQ(e.headers.at("x-custom"), "v" + std::to_string(i));
    EXPECT_EQ(e.headers.at("mqtt_receivedTopic"), "m2r/sensors");
  }

  // The latency histogram counted every delivered message.
  auto metrics = instance.client().Get("/actuator/prometheus");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("solace_connector_process_seconds_count{workflow_id=\"0\"} " +
                               std::to_string(carried)),
            std::string::npos);
  subscriber.disconnect();
}

TEST_P(MqttBinder, KillNineMidStreamLosesNothingFromAnMqttInput) {
  TempDir root("mqtt-kill");
  RabbitBroker rabbit(root.path() / "rabbit");
  MqttTestBroker mqtt_broker(GetParam(), root.path() / "mqtt");
  rabbit.start();
  mqtt_broker.start();
  declare_queue(rabbit.port(), "out", false);
  const std::string config = R"(
solace.connector:
  security.users: [{name: reader, password: reader-secret-pw}]
  workflows.0: {enabled: true, acknowledgment: {publish-async: true, back-pressure-threshold: 100}}
spring.cloud.stream:
)" + binders_yaml(rabbit.port(), mqtt_broker) + R"(
  bindings:
    input-0: {destination: "in/#", binder: mq}
    output-0: {destination: "", binder: rmq}
  rabbit.bindings.output-0.producer.routing-key: out
)";
  auto start = [&](const std::string& name) {
    const fs::path dir = root.path() / name;
    fs::create_directories(dir);
    const int port = free_port();
    return std::make_unique<Instance>(dir, "server: {address: 127.0.0.1, port: " + std::to_string(port) + "}\n" + config,
                                      port);
  };
  auto first = start("first");
  // Running with the input subscribed (the worker opens it in its own thread).
  ASSERT_TRUE(eventually([&] {
    const auto w = workflow_json(*first, 0);
    return w["state"] == "running" && !w.contains("connection");
  }));
  constexpr int kMessages = 3000;
  std::thread producer([&] {
    for (int batch = 0; batch < kMessages / 100; ++batch) {
      publish_mqtt(mqtt_broker, "in/x", 100, "b" + std::to_string(batch) + "-");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  ASSERT_TRUE(eventually([&] { return workflow_json(*first, 0)["messages"]["delivered"].get<int>() > 500; },
                         std::chrono::seconds(30)));
  first->process().signal(SIGKILL);  // with up to 100 messages in flight, PUBACK not yet sent
  first->process().wait_exit(std::chrono::seconds(10));
  auto second = start("second");  // the same client id: it resumes the session
  producer.join();
  const auto arrived = drain_queue(rabbit.port(), "out", kMessages);
  std::set<std::string> distinct;
  for (const auto& e : arrived) distinct.insert(e.body);
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kMessages)) << second->process().log();
  std::printf("mqtt input, kill -9 mid-stream: %d messages, lost %d, duplicates %zu\n", kMessages,
              kMessages - static_cast<int>(distinct.size()), arrived.size() - distinct.size());
}

TEST_P(MqttBinder, OutputBrokerRestartShowsReconnectingAndLosesNothing) {
  TempDir root("mqtt-restart");
  RabbitBroker rabbit(root.path() / "rabbit");
  MqttTestBroker mqtt_broker(GetParam(), root.path() / "mqtt");
  rabbit.start();
  mqtt_broker.start();
  declare_queue(rabbit.port(), "in", false);
  {
    // Register the subscriber's persistent session before anything is published.
    mqtt::Client subscriber(mqtt_broker.options("test-subscriber"));
    subscriber.subscribe("out", 1);
    subscriber.disconnect();
  }
  const int port = free_port();
  Instance instance(root.path(), "server: {address: 127.0.0.1, port: " + std::to_string(port) + "}\n" + R"(
solace.connector:
  security.users: [{name: reader, password: reader-secret-pw}]
  workflows.0: {enabled: true, acknowledgment: {publish-async: true, back-pressure-threshold: 20}}
spring.cloud.stream:
)" + binders_yaml(rabbit.port(), mqtt_broker) + R"(
  bindings:
    input-0: {destination: in, binder: rmq, consumer: {back-off-initial-interval: 200, back-off-max-interval: 1000}}
    output-0: {destination: out, binder: mq}
)", port);
  constexpr int kMessages = 600;
  publish_messages(rabbit.port(), "in", kMessages / 2, "x");
  ASSERT_TRUE(eventually([&] { return workflow_json(instance, 0)["messages"]["delivered"].get<int>() >= 100; },
                         std::chrono::seconds(30)));
  mqtt_broker.stop();
  publish_messages(rabbit.port(), "in", kMessages / 2, "y");
  auto health = [&] {
    auto res = instance.client().Get("/actuator/health");
    return res ? nlohmann::json::parse(res->body) : nlohmann::json::object();
  };
  ASSERT_TRUE(eventually([&] {
    return health()["components"]["workflows"]["components"]["workflow-0"]["status"] == "RECONNECTING";
  })) << health();
  EXPECT_EQ(health()["status"], "RECONNECTING");
  mqtt_broker.start();
  mqtt::Client subscriber(mqtt_broker.options("test-subscriber"));
  const auto arrived = collect(subscriber, kMessages, std::chrono::seconds(60));
  std::set<std::string> distinct;
  for (const auto& p : arrived) distinct.insert(p.payload);
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kMessages)) << instance.process().log();
  EXPECT_TRUE(eventually([&] {
    return health()["components"]["workflows"]["components"]["workflow-0"]["status"] == "UP";
  }));
  std::printf("mqtt output broker restart: %d messages, %zu arrivals, %zu duplicates\n", kMessages, arrived.size(),
              arrived.size() - distinct.size());
  subscriber.disconnect();
}

// Not about the binder: how ActiveMQ Artemis's MQTT acceptor orders one publisher's QoS 1
// messages (found when RabbitToMqttAndBack... saw a50 and a51 swapped, no binder in between
// being to blame). Our own client publishes 3,000 messages in order on one connection, in
// batches of 50 each waited for, and one subscriber receives them. Asserted: each arrives
// exactly once. Reported: how many arrived after a later one (the README quotes it); on
// Mosquitto the binder tests assert the order itself.
TEST(ArtemisMqtt, OneInOrderPublishersQos1MessagesArriveOnceEach) {
  TempDir root("artemis-mqtt-order");
  MqttTestBroker broker("artemis", root.path() / "mqtt");
  broker.start();
  mqtt::Client subscriber(broker.options("order-subscriber"));
  subscriber.subscribe("order/out", 1);
  mqtt::Client publisher(broker.options("order-publisher"));
  constexpr int kMessages = 3000;
  for (int sent = 0; sent < kMessages;) {
    std::vector<std::uint16_t> ids;
    for (int i = 0; i < 50; ++i, ++sent) ids.push_back(publisher.publish("order/out", std::to_string(sent), 1, {}));
    publisher.wait_for_acks(ids, std::chrono::seconds(10));
  }
  publisher.disconnect();
  const auto arrived = collect(subscriber, kMessages, std::chrono::seconds(60));
  std::vector<int> numbers;
  for (const auto& p : arrived) numbers.push_back(std::stoi(p.payload));
  int after_a_later_one = 0;
  int highest = -1;
  for (const int n : numbers) {
    if (n < highest) ++after_a_later_one;
    highest = std::max(highest, n);
  }
  std::vector<int> sorted = numbers;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int> each(kMessages);
  for (int i = 0; i < kMessages; ++i) each[static_cast<size_t>(i)] = i;
  EXPECT_TRUE(sorted == each) << numbers.size() << " arrived for " << kMessages << " published";
  std::cout << "Artemis MQTT: " << kMessages << " QoS 1 messages of one in-order publisher, " << numbers.size()
            << " arrived, " << after_a_later_one << " after a later one\n";
  subscriber.disconnect();
}

}  // namespace
}  // namespace mi::integration

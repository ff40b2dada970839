// Hostile producers: messages that anyone allowed to publish can send, through real brokers
// (RabbitMQ over AMQP 0-9-1 and its AMQP 1.0 plugin, Mosquitto over MQTT 5), into the real
// binary. Each time the instance keeps serving, holds no more than its bounds, delivers every
// ordinary message around the hostile ones, and the log names what it refused and why.
#include <amqp.h>
#include <amqp_tcp_socket.h>

#include <fstream>
#include <set>
#include <thread>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "instance.h"
#include "mosquitto_broker.h"
#include "mqtt/client.h"
#include "rabbit_broker.h"

namespace mi::integration {
namespace {
namespace fs = std::filesystem;

// Publishes one message with rabbitmq-c itself: RabbitConnection sends string headers only,
// and a hostile producer sends whatever the protocol can carry. Returns once the broker has
// the message (the connection's close handshake comes after it on the wire).
void publish_raw(int port, const std::string& queue, const std::string& body, const amqp_table_t& headers,
                 const std::string& message_id) {
  amqp_connection_state_t conn = amqp_new_connection();
  amqp_socket_t* socket = amqp_tcp_socket_new(conn);
  ASSERT_EQ(amqp_socket_open(socket, "127.0.0.1", port), AMQP_STATUS_OK);
  ASSERT_EQ(amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest").reply_type,
            AMQP_RESPONSE_NORMAL);
  amqp_channel_open(conn, 1);
  ASSERT_EQ(amqp_get_rpc_reply(conn).reply_type, AMQP_RESPONSE_NORMAL);
  amqp_basic_properties_t props{};
  props._flags = AMQP_BASIC_HEADERS_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
  props.headers = headers;
  props.message_id = amqp_cstring_bytes(message_id.c_str());
  props.delivery_mode = 2;
  amqp_bytes_t payload{body.size(), const_cast<char*>(body.data())};
  ASSERT_EQ(amqp_basic_publish(conn, 1, amqp_empty_bytes, amqp_cstring_bytes(queue.c_str()), 0, 0, &props, payload),
            AMQP_STATUS_OK);
  EXPECT_EQ(amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS).reply_type, AMQP_RESPONSE_NORMAL);
  EXPECT_EQ(amqp_connection_close(conn, AMQP_REPLY_SUCCESS).reply_type, AMQP_RESPONSE_NORMAL);
  amqp_destroy_connection(conn);
}

// A string header whose bytes stay where `value` points: a literal or a string that outlives
// the publish.
amqp_table_entry_t string_entry(const char* key, std::string_view value) {
  amqp_table_entry_t e{};
  e.key = amqp_cstring_bytes(key);
  e.value.kind = AMQP_FIELD_KIND_UTF8;
  e.value.value.bytes = amqp_bytes_t{value.size(), const_cast<char*>(value.data())};
  return e;
}

// One broker for the suite: RabbitMQ with its AMQP 1.0 plugin. Queues named hostile-* dead-
// letter into `dead` (a policy, as operators set it), so what an input rejects can be checked.
class HostileProducers : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new TempDir("hostile-producers");
    broker_ = new RabbitBroker(root_->path() / "broker");
    broker_->set_plugins("[rabbitmq_amqp1_0]");
    broker_->start();
    const std::string out = broker_->ctl(
        R"(set_policy dead-letter '^hostile-' '{"dead-letter-exchange":"","dead-letter-routing-key":"dead"}' )"
        "--apply-to queues");
    ASSERT_NE(out.find("Setting policy"), std::string::npos) << out;
    declare_queue(broker_->port(), "dead", false);
  }
  static void TearDownTestSuite() {
    delete broker_;
    delete root_;
  }
  void SetUp() override {
    dir = std::make_unique<TempDir>(::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(outbox());
  }
  void TearDown() override {
    if (HasFailure() && instance) std::cerr << "instance log:\n" << instance->process().log();
    if (HasFailure()) {
      std::cerr << broker_->ctl("list_queues name messages_ready messages_unacknowledged consumers") << "outbox:";
      for (const auto& e : fs::directory_iterator(outbox())) std::cerr << " " << e.path().filename();
      std::cerr << "\n";
    }
    drain_queue(broker_->port(), "dead", 0);
  }
  fs::path outbox() const { return dir->path() / "outbox"; }
  // Workflow 0: `binder_yaml` input from `queue` -> the file output `outbox`.
  void start(const std::string& binder_yaml, const std::string& queue, const std::string& more_yaml) {
    const int port = free_port();
    instance = std::make_unique<Instance>(dir->path(), server_and_users_config(port) + R"(    workflows:
      0: {enabled: true}
spring:
  cloud:
    stream:
      binders:
        disk: {type: file}
        broker: )" + binder_yaml + R"(
      bindings:
        input-0: {destination: )" + queue + R"(, binder: broker}
        output-0: {destination: outbox, binder: disk}
)" + more_yaml, port);
  }
  std::string rabbit_binder() const {
    return "{type: rabbit, environment: {spring.rabbitmq: {host: 127.0.0.1, port: " +
           std::to_string(broker_->port()) + ", username: guest, password: guest}}}";
  }
  std::string amqp_binder() const {
    return "{type: amqp, environment: {amqp: {host: 127.0.0.1, port: " + std::to_string(broker_->port()) +
           ", username: guest, password: guest}}}";
  }
  void publish(const std::string& queue, const std::string& name, const std::string& body) {
    auto c = connect_to_rabbit(broker_->port());
    c->enable_confirms();
    c->publish_confirmed("", queue, body, {{"file_name", name}, {"message-id", name}}, Millis{30000});
  }
  bool arrived(const std::string& name, const std::string& body) const {
    std::error_code ec;
    return fs::exists(outbox() / name, ec) && read_file(outbox() / name) == body;
  }

  // The instance's peak resident memory once its input is consuming (`consuming_line` is in
  // its log) and it has idled for a second: what a message adds is measured against it.
  long settled_peak_mib(const std::string& consuming_line) {
    EXPECT_TRUE(eventually([&] { return instance->process().log().find(consuming_line) != std::string::npos; },
                           std::chrono::seconds(20)))
        << instance->process().log();
    std::this_thread::sleep_for(std::chrono::seconds(1));
    return peak_resident_mib(instance->process().pid());
  }
  // "before", a message of `big_bytes` with message-id "too-big", and "after", in that order;
  // returns once the two small ones are in the output (whatever their file names).
  void publish_big_between_two_and_wait(const std::string& queue, std::size_t big_bytes) {
    publish(queue, "before", "before-payload");
    publish(queue, "too-big", std::string(big_bytes, 'b'));
    publish(queue, "after", "after-payload");
    ASSERT_TRUE(eventually([&] { return payloads().count("before-payload") && payloads().count("after-payload"); },
                           std::chrono::seconds(60)));
  }
  // Payloads of the files in the output, whatever their names.
  std::multiset<std::string> payloads() const {
    std::multiset<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(outbox(), ec)) {
      if (e.path().extension() != ".json") out.insert(read_file(e.path()));
    }
    return out;
  }

  static TempDir* root_;
  static RabbitBroker* broker_;
  std::unique_ptr<TempDir> dir;
  std::unique_ptr<Instance> instance;
};
TempDir* HostileProducers::root_ = nullptr;
RabbitBroker* HostileProducers::broker_ = nullptr;

// AMQP 0-9-1: a 96 MiB message to an input that takes 1 MB. Before, rabbitmq-c allocated the
// size the content header announced and the whole body was held (up to RabbitMQ's 128 MiB,
// or any size a hostile broker announces). Now it is read off the socket a frame at a time and
// dropped, rejected without requeue (the queue's dead-letter exchange keeps it whole), named
// in an ERROR; the messages before and after it arrive.
TEST_F(HostileProducers, RabbitMessageOverMaxMessageSizeIsRejectedUnheldAndTheOthersFlow) {
  declare_queue(broker_->port(), "hostile-big", false);
  start(rabbit_binder(), "hostile-big", "      rabbit.bindings.input-0.consumer.max-message-size: 1MB\n");
  const long before_mib = settled_peak_mib("consuming from queue 'hostile-big'");
  constexpr std::size_t kBig = 96 << 20;
  ASSERT_NO_FATAL_FAILURE(publish_big_between_two_and_wait("hostile-big", kBig));
  EXPECT_EQ(payloads().size(), 2u);
  const auto dead = drain_queue(broker_->port(), "dead", 1);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].body.size(), kBig);
  EXPECT_EQ(dead[0].headers.at("message-id"), "too-big");
  const std::string log = instance->process().log();
  EXPECT_EQ(count_of(log, "rejected message 'too-big' of 100663296 bytes from queue 'hostile-big' without reading "
                          "it: larger than spring.cloud.stream.rabbit.bindings.input-0.consumer.max-message-size "
                          "(1048576 bytes)"),
            1)
      << log;
  // Holding the message would have added 96 MiB to the peak (under any sanitizer).
  const long peak = peak_resident_mib(instance->process().pid());
  std::cout << "peak resident memory " << before_mib << " MiB before, " << peak << " MiB after a 96 MiB message\n";
  EXPECT_LT(peak - before_mib, 48);
  EXPECT_FALSE(instance->process().wait_exit(std::chrono::milliseconds(0)).has_value()) << "the service died";
}

// AMQP 0-9-1 headers no well-behaved producer sends: a field table nested 15,000 levels deep
// (what fits in RabbitMQ's 128 KiB frame), 5,000 headers, names and values with newlines and
// escape sequences, a file_name that climbs out of the output directory. Each message arrives
// with its payload; nothing is written outside the output; the log has no forged line.
TEST_F(HostileProducers, RabbitHeadersNestedDeepManyAndForgedStillDeliverThePayload) {
  declare_queue(broker_->port(), "hostile-headers", false);
  constexpr std::size_t kDepth = 15000;
  std::vector<amqp_table_entry_t> levels(kDepth);
  const std::string leaf = "deep";
  for (std::size_t i = 0; i < kDepth; ++i) {
    levels[i].key = amqp_cstring_bytes("n");
    if (i + 1 < kDepth) {
      levels[i].value.kind = AMQP_FIELD_KIND_TABLE;
      levels[i].value.value.table = amqp_table_t{1, &levels[i + 1]};
    } else {
      levels[i] = string_entry("n", leaf);
    }
  }
  std::vector<amqp_table_entry_t> deep{string_entry("file_name", "deep"), levels[0]};
  publish_raw(broker_->port(), "hostile-headers", "deep-payload", amqp_table_t{2, deep.data()}, "deep");

  std::vector<std::string> keys;
  keys.reserve(5000);
  for (int i = 0; i < 5000; ++i) keys.push_back("k" + std::to_string(i));
  const std::string value = "v";
  std::vector<amqp_table_entry_t> many{string_entry("file_name", "many")};
  for (const auto& k : keys) many.push_back(string_entry(k.c_str(), value));
  publish_raw(broker_->port(), "hostile-headers", "many-payload", amqp_table_t{static_cast<int>(many.size()), many.data()},
              "many");

  const std::string forged_value = "x\n2026-12-07 [error] forged by a header\x1b[2J";
  std::vector<amqp_table_entry_t> forged{string_entry("file_name", "../../escaped"),
                                         string_entry("x-forged\nname", forged_value)};
  publish_raw(broker_->port(), "hostile-headers", "forged-payload", amqp_table_t{2, forged.data()},
              "forged\n2026-12-07 [error] forged by a message id");
  publish("hostile-headers", "after", "after-payload");

  start(rabbit_binder(), "hostile-headers", "");
  ASSERT_TRUE(eventually([&] { return instance->delivered() == 4; }, std::chrono::seconds(30)))
      << "delivered " << instance->delivered();
  EXPECT_TRUE(arrived("deep", "deep-payload"));
  EXPECT_TRUE(arrived("many", "many-payload"));
  EXPECT_NE(read_file(outbox() / "many.headers.json").find("\"k4999\""), std::string::npos);
  EXPECT_TRUE(arrived("after", "after-payload"));
  // The climbing file_name was not taken as a name: the payload is in the output under a
  // generated one, and nothing was written above it.
  int forged_found = 0;
  for (const auto& e : fs::directory_iterator(outbox())) {
    if (e.path().extension() != ".json" && read_file(e.path()) == "forged-payload") ++forged_found;
  }
  EXPECT_EQ(forged_found, 1);
  EXPECT_FALSE(fs::exists(dir->path() / "escaped"));
  EXPECT_FALSE(fs::exists(dir->path().parent_path() / "escaped"));
  const std::string log = instance->process().log();
  EXPECT_EQ(count_of(log, "\n2026-12-07 [error] forged"), 0) << log;
  EXPECT_EQ(instance->client().Get("/actuator/health")->status, 200);
}

// AMQP 1.0: a 64 MiB message to an input that takes 1 MB. Before, Proton held every frame of
// a message until its last one came, with no bound. Now the receiver announces the size in its
// attach, the session window stops the broker once 1 MB and two frames are held, and the
// message is rejected (the queue's dead-letter exchange keeps it) with an error that names the
// limit; the connection is opened again and the message after it arrives.
TEST_F(HostileProducers, Amqp10MessageOverMaxMessageSizeIsRejectedAndTheOthersFlow) {
  declare_queue(broker_->port(), "hostile-big10", false);
  start(amqp_binder(), "hostile-big10", "      amqp.bindings.input-0.consumer.max-message-size: 1MB\n");
  const long before_mib = settled_peak_mib("receiving from '/amq/queue/hostile-big10'");
  constexpr std::size_t kBig = 64 << 20;
  ASSERT_NO_FATAL_FAILURE(publish_big_between_two_and_wait("hostile-big10", kBig));
  EXPECT_EQ(payloads().size(), 2u);
  const auto dead = drain_queue(broker_->port(), "dead", 1);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].body.size(), kBig);
  const std::string log = instance->process().log();
  EXPECT_NE(log.find("rejected a message larger than max-message-size (1048576 bytes)"), std::string::npos) << log;
  // Proton's frames and the decoded message would have added 128 MiB to the peak.
  const long peak = peak_resident_mib(instance->process().pid());
  std::cout << "peak resident memory " << before_mib << " MiB before, " << peak << " MiB after a 64 MiB message\n";
  EXPECT_LT(peak - before_mib, 40);
  EXPECT_FALSE(instance->process().wait_exit(std::chrono::milliseconds(0)).has_value()) << "the service died";
}

// MQTT 5: 20,000 user properties in one message (about 200 KB). Before, each became a pair of
// strings and a header: a 16 MiB packet of empty ones is 3 million, about 200 MB held. Now
// the first 1,000 are kept, the rest counted in a WARN; the payload arrives.
TEST(HostileMqttProducer, UserPropertiesPastTheBoundAreLeftOutWithAWarnAndThePayloadArrives) {
  TempDir root("hostile-mqtt-producer");
  MosquittoBroker mosquitto(root.path() / "mosquitto");
  mosquitto.start();
  fs::create_directories(root.path() / "outbox");
  const int port = free_port();
  Instance instance(root.path(), server_and_users_config(port) + R"(    workflows:
      0: {enabled: true}
spring:
  cloud:
    stream:
      binders:
        disk: {type: file}
        mq: {type: mqtt, environment: {mqtt: {host: 127.0.0.1, port: )" + std::to_string(mosquitto.port()) + R"(, client-id: hostile-it}}}
      bindings:
        input-0: {destination: "in/#", binder: mq}
        output-0: {destination: outbox, binder: disk}
)", port);
  ASSERT_TRUE(eventually([&] { return instance.process().log().find("subscribed to 'in/#'") != std::string::npos; },
                         std::chrono::seconds(20)))
      << instance.process().log();
  mqtt::ClientOptions o;
  o.host = "127.0.0.1";
  o.port = mosquitto.port();
  o.client_id = "hostile-publisher";
  mqtt::Client publisher(o);
  mqtt::PublishProperties many;
  many.user_properties.emplace_back("file_name", "many");
  for (int i = 0; i < 20000; ++i) many.user_properties.emplace_back("k" + std::to_string(i), "v");
  mqtt::PublishProperties plain;
  plain.user_properties.emplace_back("file_name", "after");
  const std::vector<std::uint16_t> ids{publisher.publish("in/many", "many-payload", 1, many),
                                       publisher.publish("in/after", "after-payload", 1, plain)};
  publisher.wait_for_acks(ids, std::chrono::seconds(10));
  publisher.disconnect();
  const fs::path out = root.path() / "outbox";
  ASSERT_TRUE(eventually([&] { return fs::exists(out / "after") && fs::exists(out / "many"); },
                         std::chrono::seconds(20)))
      << instance.process().log();
  EXPECT_EQ(read_file(out / "many"), "many-payload");
  EXPECT_EQ(read_file(out / "after"), "after-payload");
  const auto headers = nlohmann::json::parse(read_file(out / "many.headers.json"));
  EXPECT_TRUE(headers.contains("k998"));  // file_name and k0..k998: the first 1,000
  EXPECT_FALSE(headers.contains("k999"));
  const std::string log = instance.process().log();
  EXPECT_EQ(count_of(log, "input-0: a message on topic 'in/many' came with 20001 user properties; the 19001 past "
                          "the first 1000 were left out"),
            1)
      << log;
}

}  // namespace
}  // namespace mi::integration

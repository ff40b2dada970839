// ActiveMQ Artemis as a second AMQP 1.0 broker (scripts/fetch-test-brokers.sh fetches it):
// the amqp binder through it. (The management session on an Artemis exclusive queue is in
// active_standby_test.cc, whose suite runs over AMQP 0-9-1, and over AMQP 1.0 on RabbitMQ
// and on Artemis.)
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "artemis_broker.h"
#include "instance.h"

namespace mi::integration {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

std::string amqp_binder(const ArtemisBroker& broker, const std::string& password) {
  return "{type: amqp, environment: {amqp: {host: 127.0.0.1, port: " + std::to_string(broker.amqp_port()) +
         ", username: " + ArtemisBroker::kUser + ", password: " + password + "}}}";
}

// file -> amqp queue on Artemis -> file: every message once, with its headers. Then the same
// with a wrong password: the workflow says so, and the spool file stays.
TEST(Artemis, TheAmqpBinderCarriesMessagesThroughAnArtemisQueueAndAWrongPasswordIsReported) {
  TempDir root("artemis-binder");
  ArtemisBroker broker(root.path() / "broker");
  broker.start();
  std::cout << "Artemis started in " << broker.start_time().count() << " ms\n";
  for (const char* d : {"inbox", "outbox", "denied-inbox"}) fs::create_directories(root.path() / d);
  constexpr int kMessages = 200;
  for (int i = 0; i < kMessages; ++i) {
    const std::string name = "m" + std::to_string(i);
    write_file(root.path() / ("." + name + ".headers.json"), R"({"x-custom": "v)" + std::to_string(i) + R"("})");
    fs::rename(root.path() / ("." + name + ".headers.json"), root.path() / "inbox" / (name + ".headers.json"));
    write_file(root.path() / ("." + name), "payload-" + std::to_string(i));
    fs::rename(root.path() / ("." + name), root.path() / "inbox" / name);
  }
  write_file(root.path() / "denied-inbox" / "kept", "kept");
  const int port = free_port();
  Instance instance(root.path(), server_and_users_config(port) + R"(    workflows:
      0: {enabled: true}
      1: {enabled: true}
      2: {enabled: true}
spring:
  cloud:
    stream:
      binders:
        disk: {type: file}
        artemis: )" + amqp_binder(broker, ArtemisBroker::kPassword) + R"(
        denied: )" + amqp_binder(broker, "wrong-password") + R"(
      bindings:
        input-0: {destination: inbox, binder: disk}
        output-0: {destination: carried, binder: artemis}
        input-1: {destination: carried, binder: artemis}
        output-1: {destination: outbox, binder: disk}
        input-2: {destination: denied-inbox, binder: disk}
        output-2: {destination: carried, binder: denied}
)", port);
  ASSERT_TRUE(eventually([&] { return instance.delivered(1) == kMessages; }, std::chrono::seconds(60)))
      << "delivered " << instance.delivered(1) << "\n" << instance.process().log() << broker.log();
  for (int i = 0; i < kMessages; ++i) {
    const std::string name = "m" + std::to_string(i);
    ASSERT_EQ(read_file(root.path() / "outbox" / name), "payload-" + std::to_string(i));
    const auto headers = json::parse(read_file(root.path() / "outbox" / (name + ".headers.json")));
    EXPECT_EQ(headers.value("x-custom", ""), "v" + std::to_string(i));
  }
  std::string error;
  ASSERT_TRUE(eventually([&] {
    auto res = instance.client().Get("/actuator/workflows/2");
    error = res && res->status == 200 ? json::parse(res->body).value("lastError", "") : "";
    return !error.empty();
  }, std::chrono::seconds(20)));
  std::cout << "wrong password: " << error << "\n";
  EXPECT_NE(error.find("amqp:unauthorized-access"), std::string::npos) << error;
  EXPECT_EQ(error.find("wrong-password"), std::string::npos) << "the password is in the error";
  EXPECT_EQ(read_file(root.path() / "denied-inbox" / "kept"), "kept");
  EXPECT_EQ(instance.process().log().find("wrong-password"), std::string::npos) << "the password is in the log";
}

}  // namespace
}  // namespace mi::integration

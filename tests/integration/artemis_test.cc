// ActiveMQ Artemis as a second AMQP 1.0 broker (scripts/fetch-test-brokers.sh fetches it):
// the amqp binder through it, and the management session on one of its exclusive queues,
// the kind of queue the specification was written for.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>
#include <thread>

#include "artemis_broker.h"
#include "instance.h"
#include "log_lines.h"

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

std::string active_standby_config(int port, const ArtemisBroker& broker, const fs::path& shared) {
  return "server: {address: 127.0.0.1, port: " + std::to_string(port) + "}\n" +
         R"(solace:
  connector:
    management:
      leader-election:
        mode: active_standby
        fail-over: {max-attempts: 2, back-off-initial-interval: 100}
      queue: mgmt
      session:
        protocol: amqp-1.0
        host: amqp://127.0.0.1:)" + std::to_string(broker.amqp_port()) + R"(
        client-username: )" + ArtemisBroker::kUser + R"(
        client-password: )" + ArtemisBroker::kPassword + R"(
        reconnect-retry-wait-in-millis: 200
        connect-retries: -1
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

std::string leader_state(Instance& i) {
  auto res = i.client(kAdminUser, kAdminPassword).Get("/actuator/leaderelection");
  if (!res || res->status != 200) return "";
  const json j = json::parse(res->body, nullptr, false);
  return j.is_object() && j.contains("mode") ? j["mode"]["state"].get<std::string>() : "";
}

// Three instances on an Artemis exclusive queue: exactly one active; kill -9 of it hands over
// to exactly one other, with a higher epoch, never two active at once (from the instances'
// own logs). Prints the takeover time and which path the new active took.
TEST(Artemis, ActiveStandbyOnAnExclusiveQueueKillNineHandsOverToExactlyOne) {
  TempDir root("artemis-active-standby");
  ArtemisBroker broker(root.path() / "broker");
  broker.add_exclusive_queue("mgmt");
  broker.start();
  const fs::path shared = root.path() / "shared";
  fs::create_directories(shared / "inbox");
  std::vector<std::unique_ptr<Instance>> instances;
  for (int i = 0; i < 3; ++i) {
    const fs::path dir = root.path() / ("instance-" + std::to_string(i));
    fs::create_directories(dir);
    const int port = free_port();
    instances.push_back(std::make_unique<Instance>(dir, active_standby_config(port, broker, shared), port));
  }
  const auto active = [&] {
    std::vector<size_t> out;
    for (size_t i = 0; i < instances.size(); ++i) {
      if (!instances[i]->process().wait_exit(std::chrono::milliseconds(0)) && leader_state(*instances[i]) == "active") {
        out.push_back(i);
      }
    }
    return out;
  };
  const auto dump_logs = [&] {
    std::string all;
    for (size_t i = 0; i < instances.size(); ++i) all += "---- instance " + std::to_string(i) + ":\n" + instances[i]->process().log();
    return all;
  };
  std::vector<size_t> first;
  ASSERT_TRUE(eventually([&] { return (first = active()).size() == 1; }, std::chrono::seconds(30))) << dump_logs();
  // All three bound, so that the kill below has two standbys to hand over to.
  ASSERT_TRUE(eventually([&] {
    for (auto& i : instances) {
      if (i->process().log().find("management session bound to queue") == std::string::npos) return false;
    }
    return true;
  }, std::chrono::seconds(20))) << dump_logs();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_EQ(active().size(), 1u);

  const long long killed_at = now_ms();
  instances[first[0]]->process().signal(SIGKILL);
  instances[first[0]]->process().wait_exit(std::chrono::seconds(5));
  std::vector<size_t> second;
  ASSERT_TRUE(eventually([&] { return (second = active()).size() == 1; }, std::chrono::seconds(20))) << dump_logs();
  EXPECT_NE(second[0], first[0]);
  const std::string new_log = instances[second[0]]->process().log();
  const long long took_over_at = first_log_time(new_log, "management session: flow active", killed_at);
  std::cout << "kill -9 takeover on Artemis: " << (took_over_at - killed_at) << " ms\n";
  // Which path the takeover took, from the first token the new active's flow got (the README
  // reports what Artemis does).
  const auto first_token = new_log.find("first token on this flow");
  ASSERT_NE(first_token, std::string::npos) << new_log;
  std::cout << new_log.substr(first_token, new_log.find('\n', first_token) - first_token) << "\n";

  std::vector<ActiveTerm> all;
  for (size_t i = 0; i < instances.size(); ++i) {
    const auto terms = active_terms(instances[i]->process().log(), i == first[0] ? killed_at : now_ms());
    all.insert(all.end(), terms.begin(), terms.end());
  }
  for (const auto& overlap : overlapping_terms(all)) ADD_FAILURE() << "two instances active together: " << overlap;
  if (HasFailure()) std::cerr << dump_logs();
}

}  // namespace
}  // namespace mi::integration

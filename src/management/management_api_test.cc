#include "management/management_api.h"

#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "common/logging.h"
#include "common/manual_clock.h"
#include "workflow/fake_binder.h"

namespace mi::management {
namespace {

constexpr const char* kReader = "Basic cmVhZGVyOnJlYWQtcHc=";  // reader:read-pw
constexpr const char* kAdmin = "Basic YWRtaW46YWRtaW4tcHc=";   // admin:admin-pw

class ManagementApiTest : public ::testing::Test {
 protected:
  ManagementApiTest() {
    registry.add(std::make_unique<workflow::testing::FakeBinder>(broker));
    settings.users = {{"reader", "read-pw", {}}, {"admin", "admin-pw", {"admin"}}};
    config::WorkflowSettings w{0, true, {"input-0", "in", "fake", "fake", {}, {}},
                               {"output-0", "out", "fake", "fake", {}, {}}, {}, {}, {}};
    settings.workflows = {w};
    settings.shutdown_timeout = Millis{2000};
  }

  void build(config::LeaderMode mode) {
    workflows = std::make_unique<workflow::WorkflowManager>(settings.workflows, registry, clock, Millis{2000});
    leader = std::make_unique<leader::LeaderElection>(mode, BackoffPolicy{}, *workflows, clock);
    api = std::make_unique<ManagementApi>(
        ManagementContext{&settings, leader.get(), workflows.get(), clock.wall_now(), "test", nullptr, {}},
        Authenticator(true, settings.users), clock);
    leader->start();  // its thread carries out the API's workflow commands
  }

  static bool eventually(const std::function<bool()>& condition) {
    for (int i = 0; i < 400; ++i) {
      if (condition()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return condition();
  }

  // Active, with every workflow's bindings open (or given up on, for `fail_open` tests).
  void activate(bool wait_for_bindings = true) {
    leader->request(leader::LeaderState::kActive);
    ASSERT_TRUE(eventually([&] { return leader->status().state == leader::LeaderState::kActive; }));
    if (wait_for_bindings) {
      ASSERT_TRUE(eventually([&] { return !workflows->find(0)->reconnecting(); }));
    }
  }

  HttpResponse call(const std::string& method, const std::string& path, const std::string& auth = "",
                    const std::string& body = "") {
    HttpRequest r{method, path, {}, body};
    if (!auth.empty()) r.headers["authorization"] = auth;
    if (method == "POST") r.headers["content-type"] = "application/json";
    return api->handle(r);
  }

  nlohmann::json json(const HttpResponse& r) { return nlohmann::json::parse(r.body); }

  workflow::testing::FakeBroker broker;
  workflow::BinderRegistry registry;
  mi::testing::ManualClock clock;
  config::Settings settings;
  std::unique_ptr<workflow::WorkflowManager> workflows;
  std::unique_ptr<leader::LeaderElection> leader;
  std::unique_ptr<ManagementApi> api;
};

TEST_F(ManagementApiTest, WithoutCredentialsEveryPathButHealthIs401SoNoneCanBeEnumerated) {
  build(config::LeaderMode::kStandalone);
  EXPECT_EQ(call("GET", "/actuator/env").status, 401);
  EXPECT_EQ(call("GET", "/actuator/workflows").status, 401);
  EXPECT_EQ(call("GET", "/nothing/here").status, 401);
  EXPECT_EQ(call("GET", "/actuator/env", kReader).status, 404);
}

TEST_F(ManagementApiTest, AChangeNeedsAJsonContentTypeAndNoForeignOrigin) {
  build(config::LeaderMode::kStandalone);
  activate();
  const auto post = [&](std::map<std::string, std::string> headers) {
    HttpRequest r{"POST", "/actuator/workflows/0", std::move(headers), R"({"state":"PAUSED"})"};
    r.headers["authorization"] = kAdmin;
    return api->handle(r);
  };
  // What a cross-site form can send: no JSON content type.
  EXPECT_EQ(post({{"content-type", "text/plain"}}).status, 415);
  EXPECT_EQ(post({}).status, 415);
  EXPECT_EQ(post({{"content-type", "application/x-www-form-urlencoded"}}).status, 415);
  // A foreign page, or a sandboxed one.
  EXPECT_EQ(post({{"content-type", "application/json"}, {"origin", "http://evil.example"}, {"host", "127.0.0.1:8090"}})
                .status,
            403);
  EXPECT_EQ(post({{"content-type", "application/json"}, {"origin", "null"}, {"host", "127.0.0.1:8090"}}).status, 403);
  // The API's own origin, and a client that sends none (curl).
  EXPECT_EQ(post({{"content-type", "application/json; charset=UTF-8"},
                  {"origin", "http://127.0.0.1:8090"},
                  {"host", "127.0.0.1:8090"}})
                .status,
            200);
  EXPECT_EQ(call("POST", "/actuator/workflows/0", kAdmin, R"({"state":"RESUMED"})").status, 200);
}

TEST_F(ManagementApiTest, LeaderElectionHasExactlyTheSpecShapeInStandalone) {
  build(config::LeaderMode::kStandalone);
  activate();
  const auto r = call("GET", "/actuator/leaderelection", kReader);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json(r), nlohmann::json::parse(R"({"mode":{"type":"standalone","state":"active"}})"));
}

TEST_F(ManagementApiTest, HealthStatusIsPublicButDetailsNeedCredentials) {
  build(config::LeaderMode::kStandalone);
  activate();
  const auto anonymous = call("GET", "/actuator/health");
  ASSERT_EQ(anonymous.status, 200);
  EXPECT_EQ(json(anonymous), nlohmann::json::parse(R"({"status":"UP"})"));
  const auto detailed = json(call("GET", "/actuator/health", kReader));
  EXPECT_EQ(detailed["components"]["workflows"]["components"]["workflow-0"]["details"]["state"], "running");
  EXPECT_EQ(detailed["components"]["leaderElection"]["details"]["state"], "active");
}

TEST_F(ManagementApiTest, HealthIsReconnectingWhileAnEnabledWorkflowCannotOpenItsInput) {
  broker.fail_open = true;
  build(config::LeaderMode::kStandalone);
  activate(false);
  const auto error = [&] {
    return json(call("GET", "/actuator/health", kReader))["components"]["workflows"]["components"]["workflow-0"]
                                                         ["details"]
        .value("error", "");
  };
  ASSERT_TRUE(eventually([&] { return !error().empty(); }));
  const auto r = call("GET", "/actuator/health", kReader);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json(r)["status"], "RECONNECTING");
  EXPECT_NE(error().find("cannot open the input"), std::string::npos) << error();
  EXPECT_NE(error().find("fake input cannot open"), std::string::npos) << error();
  EXPECT_EQ(json(call("GET", "/actuator/workflows/0", kReader))["state"], "running");
}

TEST_F(ManagementApiTest, EverythingElseNeedsAUserAndChangesNeedAdmin) {
  build(config::LeaderMode::kStandalone);
  activate();
  const auto no_auth = call("GET", "/actuator/workflows");
  EXPECT_EQ(no_auth.status, 401);
  EXPECT_EQ(no_auth.headers.at("WWW-Authenticate"), "Basic realm=\"micro-integration\"");
  EXPECT_EQ(json(no_auth)["status"], 401);
  EXPECT_EQ(call("GET", "/actuator/workflows", "Basic YWRtaW46d3Jvbmc=").status, 401);
  EXPECT_EQ(call("GET", "/actuator/workflows", kReader).status, 200);
  EXPECT_EQ(call("POST", "/actuator/workflows/0", kReader, R"({"state":"STOPPED"})").status, 403);
  EXPECT_EQ(workflows->find(0)->state(), workflow::WorkflowState::kRunning);
}

TEST_F(ManagementApiTest, AdminStopsPausesAndStartsWorkflows) {
  build(config::LeaderMode::kStandalone);
  activate();
  auto r = call("POST", "/actuator/workflows/0", kAdmin, R"({"state":"PAUSED"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json(r)["state"], "paused");
  r = call("POST", "/actuator/workflows/0", kAdmin, R"({"state":"STOPPED"})");
  EXPECT_EQ(json(r)["state"], "stopped");
  EXPECT_EQ(call("POST", "/actuator/workflows/0", kAdmin, R"({"state":"RESUMED"})").status, 409);
  r = call("POST", "/actuator/workflows/0", kAdmin, R"({"state":"STARTED"})");
  EXPECT_EQ(json(r)["state"], "running");
  const auto one = json(call("GET", "/actuator/workflows/0", kReader));
  EXPECT_EQ(one["id"], "0");
  EXPECT_EQ(one["enabled"], true);
  EXPECT_EQ(one["inputBindings"], nlohmann::json::array({"input-0"}));
  EXPECT_EQ(one["outputBindings"], nlohmann::json::array({"output-0"}));
}

TEST_F(ManagementApiTest, BadRequestsGetJsonErrorsWithTheRightStatus) {
  build(config::LeaderMode::kStandalone);
  activate();
  EXPECT_EQ(call("GET", "/actuator/nothing", kReader).status, 404);
  EXPECT_EQ(call("GET", "/actuator/workflows/7", kReader).status, 404);
  EXPECT_EQ(call("GET", "/actuator/workflows/x1", kReader).status, 404);
  EXPECT_EQ(call("GET", "/actuator/workflows/99999999999", kReader).status, 404);
  const auto wrong_method = call("DELETE", "/actuator/leaderelection", kAdmin);
  EXPECT_EQ(wrong_method.status, 405);
  EXPECT_EQ(wrong_method.headers.at("Allow"), "GET, POST");
  EXPECT_EQ(call("POST", "/actuator/leaderelection", kReader, R"({"action":"YIELD"})").status, 403);
  EXPECT_EQ(call("POST", "/actuator/leaderelection", kAdmin, R"({"action":"YIELD"})").status, 409);
  EXPECT_EQ(call("POST", "/actuator/leaderelection", kAdmin, R"({"action":"JUMP"})").status, 400);
  EXPECT_EQ(call("PUT", "/actuator/workflows/0", kAdmin, "{}").status, 405);
  const auto not_json = call("POST", "/actuator/workflows/0", kAdmin, "{state: STOPPED");
  EXPECT_EQ(not_json.status, 400);
  EXPECT_NE(json(not_json)["message"].get<std::string>().find("STARTED, STOPPED, PAUSED, RESUMED"),
            std::string::npos);
  EXPECT_EQ(call("POST", "/actuator/workflows/0", kAdmin, R"({"state":"EXPLODED"})").status, 400);
  EXPECT_EQ(call("POST", "/actuator/workflows/0", kAdmin, R"({"state":7})").status, 400);
  EXPECT_EQ(call("POST", "/actuator/workflows/0", kAdmin, R"([1,2])").status, 400);
  EXPECT_EQ(workflows->find(0)->state(), workflow::WorkflowState::kRunning);
}

TEST_F(ManagementApiTest, StandbyInstanceRefusesToStartWorkflows) {
  build(config::LeaderMode::kActiveStandby);
  const auto r = call("POST", "/actuator/workflows/0", kAdmin, R"({"state":"STARTED"})");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(workflows->find(0)->state(), workflow::WorkflowState::kStopped);
  EXPECT_EQ(json(call("GET", "/actuator/leaderelection", kReader))["mode"]["state"], "standby");
}

TEST_F(ManagementApiTest, PrometheusReportsLeaderAndWorkflowMetrics) {
  build(config::LeaderMode::kStandalone);
  activate();
  const auto r = call("GET", "/actuator/prometheus", kReader);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(r.body.find("solace_connector_leader_election_active{mode=\"standalone\"} 1\n"), std::string::npos);
  EXPECT_NE(r.body.find("solace_connector_workflow_state{workflow_id=\"0\",state=\"running\"} 1\n"),
            std::string::npos);
  EXPECT_NE(r.body.find("solace_connector_workflow_messages_delivered_total{workflow_id=\"0\"} 0\n"),
            std::string::npos);
  EXPECT_NE(r.body.find("process_resident_memory_bytes "), std::string::npos);
}

// The alert rules (ops/alerts) count active instances per management queue.
TEST_F(ManagementApiTest, InActiveStandbyTheLeaderMetricsNameTheManagementQueue) {
  settings.management_queue = "orders-mgmt";
  build(config::LeaderMode::kActiveStandby);
  const auto r = call("GET", "/actuator/prometheus", kReader);
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("solace_connector_leader_election_active{mode=\"active_standby\",queue=\"orders-mgmt\"} 0\n"),
            std::string::npos)
      << r.body;
}

TEST_F(ManagementApiTest, KubernetesProbesArePublicAndSayWhatARestartOrTrafficWouldChange) {
  build(config::LeaderMode::kStandalone);
  bool stopping = false;
  api = std::make_unique<ManagementApi>(
      ManagementContext{&settings, leader.get(), workflows.get(), clock.wall_now(), "test", nullptr, {},
                        [&stopping] { return stopping; }},
      Authenticator(true, settings.users), clock);
  activate();
  auto live = call("GET", "/actuator/health/liveness");
  EXPECT_EQ(live.status, 200);
  EXPECT_EQ(json(live)["status"], "UP");
  auto ready = call("GET", "/actuator/health/readiness");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(json(ready)["status"], "UP");
  // A broker outage is not a reason to restart: liveness stays UP while the workflow reconnects.
  {
    std::lock_guard lock(broker.mutex);
    broker.output_failures_to_inject = 1000;
  }
  EXPECT_EQ(call("GET", "/actuator/health/liveness").status, 200);
  stopping = true;
  ready = call("GET", "/actuator/health/readiness");
  EXPECT_EQ(ready.status, 503);
  EXPECT_EQ(json(ready)["status"], "OUT_OF_SERVICE");
  EXPECT_EQ(call("POST", "/actuator/health/liveness", kAdmin, "{}").status, 405);
}

TEST_F(ManagementApiTest, LoggersAreListedAndAnAdminChangesALevelAtRunTime) {
  build(config::LeaderMode::kStandalone);
  const auto all = call("GET", "/actuator/loggers", kReader);
  ASSERT_EQ(all.status, 200);
  const auto body = json(all);
  EXPECT_TRUE(body["loggers"].contains("ROOT"));
  EXPECT_TRUE(body["loggers"].contains("binder.rabbit"));
  EXPECT_EQ(call("GET", "/actuator/loggers/no.such", kReader).status, 404);

  EXPECT_EQ(call("POST", "/actuator/loggers/workflow", kReader, R"({"configuredLevel":"DEBUG"})").status, 403);
  EXPECT_EQ(call("POST", "/actuator/loggers/workflow", kAdmin, R"({"configuredLevel":"LOUD"})").status, 400);
  EXPECT_EQ(call("POST", "/actuator/loggers/workflow", kAdmin, R"({"configuredLevel":"DEBUG"})").status, 204);
  auto one = json(call("GET", "/actuator/loggers/workflow", kReader));
  EXPECT_EQ(one["configuredLevel"], "DEBUG");
  EXPECT_EQ(one["effectiveLevel"], "DEBUG");
  EXPECT_TRUE(logger("workflow")->should_log(spdlog::level::debug));
  // null hands it back to ROOT.
  EXPECT_EQ(call("POST", "/actuator/loggers/workflow", kAdmin, R"({"configuredLevel":null})").status, 204);
  one = json(call("GET", "/actuator/loggers/workflow", kReader));
  EXPECT_TRUE(one["configuredLevel"].is_null());
  EXPECT_EQ(one["effectiveLevel"], json(call("GET", "/actuator/loggers/ROOT", kReader))["effectiveLevel"]);
}

TEST_F(ManagementApiTest, EndpointsLeftOutOfTheExposureDoNotExist) {
  settings.exposed_endpoints = {"health", "workflows"};
  build(config::LeaderMode::kStandalone);
  EXPECT_EQ(call("GET", "/actuator/workflows", kReader).status, 200);
  EXPECT_EQ(call("GET", "/actuator/prometheus", kReader).status, 404);
  EXPECT_EQ(call("GET", "/actuator/loggers/ROOT", kReader).status, 404);
  const auto index = json(call("GET", "/actuator", kReader));
  EXPECT_TRUE(index["_links"].contains("workflows"));
  EXPECT_FALSE(index["_links"].contains("prometheus"));
}

}  // namespace
}  // namespace mi::management

// The real binary with the file binder, driven over HTTP as an operator would.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "instance.h"

namespace mi::integration {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

class Api : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::make_unique<TempDir>(::testing::UnitTest::GetInstance()->current_test_info()->name());
    const int port = free_port();
    instance = std::make_unique<Instance>(dir->path(), standalone_config(port), port);
    // Workflow 0 opens its directories in its own thread; RECONNECTING until it has. Health
    // is UP once it runs, but the leader says active only after every enabled workflow has
    // started, a moment later; the tests start from an active instance.
    ASSERT_TRUE(eventually([&] {
      auto res = instance->client().Get("/actuator/health");
      if (!res) return false;
      const json health = json::parse(res->body);
      return health["status"] == "UP" &&
             health["components"]["leaderElection"]["details"]["state"] == "active";
    }));
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "instance log:\n" << instance->process().log();
  }
  fs::path inbox() const { return dir->path() / "inbox"; }
  fs::path outbox() const { return dir->path() / "outbox"; }
  void drop(const std::string& name, const std::string& payload) {
    write_file(inbox() / ("." + name), payload);
    fs::rename(inbox() / ("." + name), inbox() / name);
  }
  json post_state(const std::string& state, int expected_status) {
    auto res = instance->client(kAdminUser, kAdminPassword)
                   .Post("/actuator/workflows/0", "{\"state\":\"" + state + "\"}", "application/json");
    EXPECT_TRUE(res);
    if (!res) return {};
    EXPECT_EQ(res->status, expected_status) << res->body;
    return json::parse(res->body);
  }

  std::unique_ptr<TempDir> dir;
  std::unique_ptr<Instance> instance;
};

TEST_F(Api, LeaderElectionEndpointShowsTheSpecJsonInStandalone) {
  auto res = instance->client().Get("/actuator/leaderelection");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(json::parse(res->body), json::parse(R"({"mode":{"type":"standalone","state":"active"}})"));
}

TEST_F(Api, FileWorkflowMovesPayloadByteForByte) {
  std::string payload;
  for (int i = 0; i < 70000; ++i) payload.push_back(static_cast<char>(i % 256));
  drop("order-1.bin", payload);
  ASSERT_TRUE(eventually([&] { return fs::exists(outbox() / "order-1.bin"); }));
  EXPECT_EQ(read_file(outbox() / "order-1.bin"), payload);
  EXPECT_TRUE(eventually([&] { return !fs::exists(inbox() / "order-1.bin"); }));
  // The count moves after the input's directory is synced, a moment after the unlink.
  EXPECT_TRUE(eventually([&] { return instance->delivered() == 1; })) << instance->delivered();
}

TEST_F(Api, AdminStopsAndStartsAWorkflowThroughPost) {
  EXPECT_EQ(post_state("STOPPED", 200)["state"], "stopped");
  drop("waits", "x");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_FALSE(fs::exists(outbox() / "waits"));
  EXPECT_TRUE(fs::exists(inbox() / "waits"));
  EXPECT_EQ(post_state("STARTED", 200)["state"], "running");
  EXPECT_TRUE(eventually([&] { return fs::exists(outbox() / "waits"); }));
  EXPECT_EQ(post_state("PAUSED", 200)["state"], "paused");
  EXPECT_EQ(post_state("RESUMED", 200)["state"], "running");
  auto list = instance->client().Get("/actuator/workflows");
  ASSERT_TRUE(list);
  EXPECT_EQ(json::parse(list->body)["workflows"][0]["state"], "running");
}

TEST_F(Api, AuthenticationAndAuthorisation) {
  auto anon = instance->anonymous_client();
  auto health = anon.Get("/actuator/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(json::parse(health->body), json::parse(R"({"status":"UP"})"));
  auto denied = anon.Get("/actuator/leaderelection");
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 401);
  EXPECT_TRUE(denied->has_header("WWW-Authenticate"));
  auto wrong = instance->client(kAdminUser, "not-the-password").Get("/actuator/workflows");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  auto reader_post = instance->client().Post("/actuator/workflows/0", R"({"state":"STOPPED"})",
                                              "application/json");
  ASSERT_TRUE(reader_post);
  EXPECT_EQ(reader_post->status, 403);
  auto detailed = instance->client().Get("/actuator/health");
  ASSERT_TRUE(detailed);
  EXPECT_EQ(json::parse(detailed->body)["components"]["workflows"]["status"], "UP");
  // Nothing the instance says, logs included, contains a password.
  EXPECT_EQ(instance->process().log().find(kAdminPassword), std::string::npos);
  EXPECT_EQ(wrong->body.find("not-the-password"), std::string::npos);
}

TEST_F(Api, BadRequestsGetJsonErrorsAndTheRightStatus) {
  auto admin = instance->client(kAdminUser, kAdminPassword);
  struct Case {
    std::string method, path, body;
    int status;
  };
  const std::vector<Case> cases = {
      {"GET", "/actuator/nope", "", 404},
      {"GET", "/actuator/workflows/19", "", 404},
      {"POST", "/actuator/leaderelection", "{}", 400},
      {"PUT", "/actuator/leaderelection", "{}", 405},
      {"DELETE", "/actuator/workflows/0", "", 405},
      {"POST", "/actuator/workflows/0", "{not json", 400},
      {"POST", "/actuator/workflows/0", R"({"state":"FLYING"})", 400},
      {"POST", "/actuator/workflows/0", std::string(20000, 'x'), 413},
  };
  for (const auto& c : cases) {
    httplib::Result res = c.method == "GET"    ? admin.Get(c.path)
                          : c.method == "POST" ? admin.Post(c.path, c.body, "application/json")
                          : c.method == "PUT"  ? admin.Put(c.path, c.body, "application/json")
                                               : admin.Delete(c.path);
    ASSERT_TRUE(res) << c.method << " " << c.path;
    EXPECT_EQ(res->status, c.status) << c.method << " " << c.path << ": " << res->body;
    const auto body = json::parse(res->body);
    EXPECT_EQ(body["status"], c.status);
    EXPECT_TRUE(body.contains("message"));
  }
  // Still alive and well.
  auto health = instance->anonymous_client().Get("/actuator/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST_F(Api, IdleClientsDoNotBlockOthers) {
  // Three clients connect and send half a request, then say nothing.
  std::vector<int> idle;
  for (int i = 0; i < 3; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(instance->port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    const char partial[] = "GET /actuator/health HTTP/1.1\r\nHost: x\r\n";
    ASSERT_GT(write(fd, partial, sizeof partial - 1), 0);
    idle.push_back(fd);
  }
  const auto start = std::chrono::steady_clock::now();
  auto res = instance->client().Get("/actuator/leaderelection");
  const auto took = std::chrono::steady_clock::now() - start;
  for (int fd : idle) close(fd);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  // The idle clients hold their workers for the 5 s read timeout; this request did not wait
  // for that.
  EXPECT_LT(took, std::chrono::seconds(4));
}

TEST_F(Api, PrometheusOutputPassesPromtool) {
  drop("m1", "1");
  // The output file appears before the directories are synced and the count moves.
  ASSERT_TRUE(eventually([&] { return instance->delivered() == 1; })) << instance->delivered();
  auto res = instance->client().Get("/actuator/prometheus");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  write_file(dir->path() / "metrics.txt", res->body);
  const std::string cmd = "promtool check metrics < '" + (dir->path() / "metrics.txt").string() + "' 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[4096];
  std::string output;
  while (size_t n = fread(buf, 1, sizeof buf, p)) output.append(buf, n);
  const int rc = pclose(p);
  EXPECT_EQ(rc, 0) << "promtool said:\n" << output << "\nmetrics:\n" << res->body;
  EXPECT_NE(res->body.find("solace_connector_workflow_messages_delivered_total{workflow_id=\"0\"} 1"),
            std::string::npos);
}

TEST_F(Api, SigtermStopsWorkflowsAndExitsZero) {
  instance->process().signal(SIGTERM);
  const auto code = instance->process().wait_exit(std::chrono::seconds(20));
  ASSERT_TRUE(code.has_value()) << "did not exit after SIGTERM";
  EXPECT_EQ(*code, 0);
  const std::string log = instance->process().log();
  EXPECT_NE(log.find("workflow 0 stopped"), std::string::npos) << log;
  EXPECT_NE(log.find("state is now standby"), std::string::npos) << log;
}

}  // namespace
}  // namespace mi::integration

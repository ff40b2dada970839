// Start-up with good and bad configuration, through the real binary.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <sstream>
#include <nlohmann/json.hpp>

#include "instance.h"

namespace mi::integration {
namespace {
namespace fs = std::filesystem;

class ConfigIntegration : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::make_unique<TempDir>(::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  RunResult run(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {}) {
    return run_to_completion(MI_BINARY_PATH, args, dir->path(), env);
  }
  std::unique_ptr<TempDir> dir;
};

TEST_F(ConfigIntegration, InvalidValueStopsStartupAndNamesKeyOriginValueAndAllowed) {
  write_file(dir->path() / "bad.yml",
             "solace:\n  connector:\n    management:\n      leader-election:\n        mode: activ\n"
             "    security:\n      users:\n        - {name: a, password: pw-that-must-not-leak}\n"
             "server:\n  port: 99999\n");
  const int port = free_port();
  const auto r = run({"--config", "bad.yml", "--server.address=127.0.0.1"},
                     {{"SERVER_PORT", std::to_string(port) + "x"}});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("solace.connector.management.leader-election.mode: invalid value 'activ': "
                          "must be one of standalone, active_standby, active_active (from bad.yml:5)"),
            std::string::npos) << r.output;
  // The environment variable beats the file, and the message says so.
  EXPECT_NE(r.output.find("(from environment variable SERVER_PORT)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("nothing was started"), std::string::npos);
  EXPECT_EQ(r.output.find("pw-that-must-not-leak"), std::string::npos);
}

TEST_F(ConfigIntegration, SpringPlaceholdersResolveFromTheEnvironmentWithDefaultsAndSecretsStayMasked) {
  write_file(dir->path() / "application.yml",
             "server: {address: 127.0.0.1, port: '${PORT:8123}'}\n"
             "solace.connector.security.users:\n  - {name: admin, password: '${ADMIN_PW}', roles: [admin]}\n");
  const auto ok = run({"--check-config"}, {{"ADMIN_PW", "pw-from-the-environment"}});
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.stdout_text.find("server.port = 8123  [" + (dir->path() / "application.yml").string() +
                                ":1 (${PORT} unset: its default)]"),
            std::string::npos) << ok.stdout_text;
  EXPECT_NE(ok.stdout_text.find("password = ******  [" + (dir->path() / "application.yml").string() + ":3 (${ADMIN_PW} from environment variable "
                                "ADMIN_PW)]"),
            std::string::npos) << ok.stdout_text;
  EXPECT_EQ(ok.output.find("pw-from-the-environment"), std::string::npos);

  const auto missing = run({"--check-config"});
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_NE(missing.output.find("solace.connector.security.users[0].password: cannot resolve placeholder "
                                "'${ADMIN_PW}'"),
            std::string::npos) << missing.output;
}

TEST_F(ConfigIntegration, UnknownKeyWarnsWithClosestKnownKeyButStarts) {
  write_file(dir->path() / "application.properties",
             "solace.connector.management.leader-election.mod=standalone\n"
             "server.address=127.0.0.1\nserver.port=0\n");
  const auto r = run({"--check-config"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("did you mean 'solace.connector.management.leader-election.mode'"),
            std::string::npos) << r.output;
}

TEST_F(ConfigIntegration, CheckConfigPrintsEffectiveValuesWithSourcesAndMasksSecrets) {
  write_file(dir->path() / "a.yml",
             "solace.connector.security.users:\n  - name: ops\n    password: hunter2-secret\n");
  write_file(dir->path() / "b.properties", "server.port=9100\n");
  const auto r = run({"--config", "a.yml", "--config", "b.properties", "--check-config",
                      "--logging.level.root=warn"},
                     {{"SOLACE_CONNECTOR_MANAGEMENT_LEADERELECTION_MODE", "active_active"},
                      {"SPRING_CLOUD_STREAM_BINDINGS_INPUT0_DESTINATION", "/tmp/in"}});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  const std::string& out = r.stdout_text;
  EXPECT_NE(out.find("server.port = 9100  [b.properties:1]"), std::string::npos) << out;
  EXPECT_NE(out.find("solace.connector.security.users[0].password = ******  [a.yml:3]"), std::string::npos) << out;
  EXPECT_NE(out.find("= active_active  [environment variable SOLACE_CONNECTOR_MANAGEMENT_LEADERELECTION_MODE]"),
            std::string::npos) << out;
  EXPECT_NE(out.find("logging.level.root = warn  [command line]"), std::string::npos) << out;
  EXPECT_NE(out.find("server.address = 0.0.0.0  [default]"), std::string::npos) << out;
  EXPECT_EQ(r.output.find("hunter2-secret"), std::string::npos);
}

TEST_F(ConfigIntegration, ModeAndAliasThatDisagreeAreAnError) {
  const auto r = run({"--check-config", "--solace.connector.leader-election.mode=active_standby",
                      "--solace.connector.management.leader-election.mode=standalone"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("contradicts"), std::string::npos) << r.output;
}

TEST_F(ConfigIntegration, UnavailableBinderTypeIsAConfigurationError) {
  const auto r = run({"--check-config", "--solace.connector.workflows.1.enabled=true",
                      "--spring.cloud.stream.binders.sol.type=solace",
                      "--spring.cloud.stream.bindings.input-1.destination=q",
                      "--spring.cloud.stream.bindings.output-1.destination=t"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("binder type 'solace' is not available in this build (available: amqp, file, mqtt, rabbit)"),
            std::string::npos) << r.output;
}

TEST_F(ConfigIntegration, MalformedFilesAreReportedWithLine) {
  write_file(dir->path() / "broken.yml", "server:\n  port: [1,\n");
  const auto r = run({"--config", "broken.yml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("broken.yml:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("invalid YAML"), std::string::npos) << r.output;
  const auto missing = run({"--config", "nowhere.yml"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.output.find("cannot read configuration file"), std::string::npos);
  const auto bad_arg = run({"--check-config", "server.port=1"});
  EXPECT_EQ(bad_arg.exit_code, 2);
  EXPECT_NE(bad_arg.output.find("--some.key=value"), std::string::npos) << bad_arg.output;
}

TEST_F(ConfigIntegration, FindsApplicationYmlInConfigSubdirectoryLikeSpringBoot) {
  fs::create_directories(dir->path() / "config");
  write_file(dir->path() / "application.yml", "server.port: 9001\n");
  write_file(dir->path() / "config" / "application.yml", "server.port: 9002\n");
  const auto r = run({"--check-config"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.stdout_text.find("server.port = 9002"), std::string::npos) << r.stdout_text;
}

TEST_F(ConfigIntegration, PortInUseFailsClearly) {
  const int port = free_port();
  Instance first(dir->path(), standalone_config(port), port);
  TempDir other("port-in-use-2");
  const auto r = run_to_completion(MI_BINARY_PATH, {"--server.address=127.0.0.1",
                                                    "--server.port=" + std::to_string(port)},
                                   other.path());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("cannot listen on 127.0.0.1:" + std::to_string(port)), std::string::npos)
      << r.output;
}

TEST_F(ConfigIntegration, HelpAndVersion) {
  const auto help = run({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.stdout_text.find("solace.connector.management.leader-election.fail-over.max-attempts"),
            std::string::npos);
  const auto version = run({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.stdout_text.rfind("micro-integration ", 0), 0u);
}

}  // namespace
}  // namespace mi::integration

namespace mi::integration {
namespace {

TEST(SessionRetries, GivingUpKeepsTheInstanceStandbyWithHealthDown) {
  TempDir dir("session-gives-up");
  const int port = free_port();
  const int closed_port = free_port();  // nothing listens there
  Instance instance(dir.path(), standalone_config(port) + R"(
solace.connector.management:
  leader-election.mode: active_standby
  queue: q
  session:
    host: amqp://127.0.0.1:)" + std::to_string(closed_port) + R"(
    client-username: guest
    connect-retries: 0
    connect-retries-per-host: 1
    reconnect-retry-wait-in-millis: 50
)", port);
  nlohmann::json health;
  ASSERT_TRUE(eventually([&] {
    auto res = instance.client().Get("/actuator/health");
    if (!res || res->status != 503) return false;
    health = nlohmann::json::parse(res->body);
    return true;
  })) << instance.process().log();
  const std::string detail = health["components"]["leaderElection"]["details"]["session"];
  EXPECT_NE(detail.find("gave up connecting after 1 round(s)"), std::string::npos) << detail;
  EXPECT_NE(detail.find("cannot connect to amqp://127.0.0.1:" + std::to_string(closed_port)), std::string::npos) << detail;
  auto leader = instance.client().Get("/actuator/leaderelection");
  ASSERT_TRUE(leader);
  EXPECT_EQ(nlohmann::json::parse(leader->body)["mode"]["state"], "standby");
}

// The systemd protocol, as a unit with Type=notify and WatchdogSec= sees it: a datagram socket
// at NOTIFY_SOCKET gets READY=1 once the API answers, WATCHDOG=1 pings at half WATCHDOG_USEC,
// and STOPPING=1 after SIGTERM.
TEST_F(ConfigIntegration, UnderSystemdItSendsReadyWatchdogPingsAndStopping) {
  const fs::path socket_path = dir->path() / "notify.sock";
  const int sock = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(sock, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof address.sun_path, "%s", socket_path.c_str());
  ASSERT_EQ(::bind(sock, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  const auto next_message = [&](std::chrono::milliseconds timeout) -> std::string {
    pollfd p{sock, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return "";
    char buf[1024];
    const ssize_t n = ::recv(sock, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
  };

  const int port = free_port();
  write_file(dir->path() / "application.yml", standalone_config(port));
  Process process(MI_BINARY_PATH, {}, dir->path(), dir->path() / "instance.log",
                  {{"NOTIFY_SOCKET", socket_path.string()}, {"WATCHDOG_USEC", "200000"}});
  const std::string first = next_message(std::chrono::seconds(20));
  ASSERT_EQ(first.rfind("READY=1\n", 0), 0u) << first << process.log();
  EXPECT_NE(first.find("STATUS=management API on 127.0.0.1:" + std::to_string(port)), std::string::npos) << first;
  // Ready means the management API answers.
  httplib::Client http("127.0.0.1", port);
  auto health = http.Get("/actuator/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  int pings = 0;
  for (int i = 0; i < 5; ++i) pings += next_message(std::chrono::seconds(2)) == "WATCHDOG=1" ? 1 : 0;
  EXPECT_EQ(pings, 5) << "a ping every 100 ms expected";

  process.signal(SIGTERM);
  std::string message;
  do {
    message = next_message(std::chrono::seconds(10));
  } while (message == "WATCHDOG=1");
  EXPECT_EQ(message.rfind("STOPPING=1", 0), 0u) << message;
  EXPECT_EQ(process.wait_exit(std::chrono::seconds(30)), 0);
  ::close(sock);
}

TEST_F(ConfigIntegration, StructuredLogsWriteOneEcsJsonObjectPerLine) {
  write_file(dir->path() / "application.yml", "server.port: 0\nlogging.structured.format.console: ecs\n");
  const auto r = run({"--check-config"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  int lines = 0;
  std::istringstream stderr_lines(r.output);
  for (std::string line; std::getline(stderr_lines, line);) {
    if (line.empty() || line[0] != '{') continue;
    const auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["ecs.version"], "8.11");
    EXPECT_EQ(j["service.name"], "micro-integration");
    EXPECT_TRUE(j.contains("@timestamp") && j.contains("log.level") && j.contains("log.logger") && j.contains("message"));
    ++lines;
  }
  EXPECT_GE(lines, 2) << r.output;  // "configuration file ...", "configuration is valid"
  EXPECT_NE(r.output.find("\"message\":\"configuration is valid\""), std::string::npos) << r.output;

  write_file(dir->path() / "application.yml", "logging.structured.format.console: logstash\n");
  const auto bad = run({"--check-config"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("logging.structured.format.console: invalid value 'logstash'"), std::string::npos)
      << bad.output;
}

}  // namespace
}  // namespace mi::integration

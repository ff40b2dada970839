// Hostile input against the real binary: what a hostile tester tried (issue 15's table, one
// test per row, named by the row) and the safe outcome each must have.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <sstream>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "hostile_server.h"
#include "instance.h"

namespace mi::integration {
namespace {
namespace fs = std::filesystem;

constexpr uid_t kNobody = 65534;

// CPU time (user + system) a process has used, in ms.
long cpu_time_ms(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string field;
  long ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stol(field);
  }
  return ticks * 1000 / sysconf(_SC_CLK_TCK);
}

class HostileFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::make_unique<TempDir>(::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(inbox());
    fs::create_directories(outbox());
  }
  void TearDown() override {
    if (HasFailure() && instance) std::cerr << "instance log:\n" << instance->process().log();
  }
  void start(const std::vector<std::string>& launcher = {}) {
    port = free_port();
    instance = std::make_unique<Instance>(dir->path(), standalone_config(port), port,
                                          std::vector<std::string>{}, launcher);
  }
  fs::path inbox() const { return dir->path() / "inbox"; }
  fs::path outbox() const { return dir->path() / "outbox"; }
  // A plain file dropped after the hostile ones: once it is through, they were seen.
  void drop_marker_and_wait() {
    write_file(inbox() / ".marker", "marker");
    fs::rename(inbox() / ".marker", inbox() / "marker");
    ASSERT_TRUE(eventually([&] { return fs::exists(outbox() / "marker"); }));
  }

  std::unique_ptr<TempDir> dir;
  std::unique_ptr<Instance> instance;
  int port = 0;
};

// Row 1: a link in the spool to a secret file, and to the service's own environment.
TEST_F(HostileFiles, Row1ALinkInTheSpoolCopiesNothingFromOutsideIt) {
  write_file(dir->path() / "shadow", "root:$6$secret-hash:19000:0:99999:7:::\n");
  fs::permissions(dir->path() / "shadow", fs::perms::owner_read | fs::perms::owner_write);
  start();
  fs::create_symlink(dir->path() / "shadow", inbox() / "x");
  fs::create_symlink("/proc/self/environ", inbox() / "env");
  drop_marker_and_wait();
  EXPECT_FALSE(fs::exists(fs::symlink_status(outbox() / "x")));
  EXPECT_FALSE(fs::exists(fs::symlink_status(outbox() / "env")));
  EXPECT_TRUE(eventually([&] {
    return fs::is_symlink(inbox() / ".rejected" / "x") && fs::is_symlink(inbox() / ".rejected" / "env");
  }));
  EXPECT_EQ(count_of(instance->process().log(), "is a symbolic link (not followed); moved to"), 2);
}

// Row 2: a link planted where the output writes its temporary file.
TEST_F(HostileFiles, Row2ALinkPlantedInTheOutputDirectoryIsReplacedNotWrittenThrough) {
  write_file(dir->path() / "victim", "precious");
  fs::permissions(dir->path() / "victim", fs::perms::owner_read | fs::perms::owner_write);
  fs::create_symlink(dir->path() / "victim", outbox() / ".evil.tmp");
  start();
  write_file(inbox() / ".evil", "payload");
  fs::rename(inbox() / ".evil", inbox() / "evil");
  ASSERT_TRUE(eventually([&] { return fs::exists(outbox() / "evil"); }));
  EXPECT_EQ(read_file(dir->path() / "victim"), "precious");
  EXPECT_EQ(read_file(outbox() / "evil"), "payload");
  EXPECT_FALSE(fs::is_symlink(outbox() / "evil"));
}

// Row 5: a file the service's user cannot read, as an unprivileged user.
TEST_F(HostileFiles, Row5AnUnreadableFileIsReportedOnceAndSetAsideWithoutSpinning) {
  std::vector<std::string> launcher;
  if (::getuid() == 0) {
    // Root reads everything: run the service as nobody, the file stays root's.
    for (const auto& entry : fs::recursive_directory_iterator(dir->path())) {
      ASSERT_EQ(::lchown(entry.path().c_str(), kNobody, kNobody), 0);
    }
    ASSERT_EQ(::chown(dir->path().c_str(), kNobody, kNobody), 0);
    launcher = {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"};
  }
  start(launcher);
  write_file(dir->path() / "locked", "not for the service");
  fs::permissions(dir->path() / "locked", fs::perms::none);
  fs::rename(dir->path() / "locked", inbox() / "locked");
  ASSERT_TRUE(eventually([&] { return fs::exists(inbox() / ".rejected" / "locked"); }));
  // Then a quiet spool costs nothing: no retry loop on the file.
  const long cpu_before = cpu_time_ms(instance->process().pid());
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_LT(cpu_time_ms(instance->process().pid()) - cpu_before, 500);
  EXPECT_EQ(count_of(instance->process().log(), "locked is unreadable (Permission denied); moved to"), 1);
}

// Row 6: a 1 GiB (sparse) file in the spool.
TEST_F(HostileFiles, Row6AFileOverTheSizeLimitIsSetAsideWithoutReadingIt) {
  start();
  { std::ofstream(dir->path() / "huge"); }
  fs::resize_file(dir->path() / "huge", 1ull << 30);
  fs::rename(dir->path() / "huge", inbox() / "huge");
  drop_marker_and_wait();
  EXPECT_TRUE(eventually([&] { return fs::exists(inbox() / ".rejected" / "huge"); }));
  EXPECT_FALSE(fs::exists(outbox() / "huge"));
  // Reading it would take over 1 GiB; the service with sanitizers is ~120 MiB.
  EXPECT_LT(peak_resident_mib(instance->process().pid()), 400);
  EXPECT_EQ(count_of(instance->process().log(), "huge is larger than the limit of 16777216 bytes; moved to"), 1);
}

// Spool: producers writing in place (create, write, close), as the quick start's
// `echo hello > inbox/hello.txt` does, pausing between the steps. Each file arrives whole: the
// input takes a file only once no process has it open for writing. Before, one in 20 to one in
// 3 such files arrived empty and its content was lost.
TEST_F(HostileFiles, FilesWrittenInPlaceArriveWholeNoneEmptyNoneLost) {
  start();
  constexpr int kRounds = 4, kFilesPerRound = 100;
  std::mt19937 random(11);
  std::uniform_int_distribution<int> pause_us(0, 3000);
  for (int round = 0; round < kRounds; ++round) {
    for (int i = 0; i < kFilesPerRound; ++i) {
      const std::string name = "r" + std::to_string(round) + "-" + std::to_string(i);
      const int fd = ::open((inbox() / name).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      ASSERT_GE(fd, 0);
      std::this_thread::sleep_for(std::chrono::microseconds(pause_us(random)));
      const std::string first = name + ":begin;";
      ASSERT_EQ(::write(fd, first.data(), first.size()), static_cast<ssize_t>(first.size()));
      std::this_thread::sleep_for(std::chrono::microseconds(pause_us(random)));
      ASSERT_EQ(::write(fd, "end", 3), 3);
      ::close(fd);
    }
  }
  constexpr int kFiles = kRounds * kFilesPerRound;
  ASSERT_TRUE(eventually([&] { return instance->delivered() == kFiles; }, std::chrono::seconds(60)))
      << "delivered " << instance->delivered();
  int empty = 0, wrong = 0;
  for (int round = 0; round < kRounds; ++round) {
    for (int i = 0; i < kFilesPerRound; ++i) {
      const std::string name = "r" + std::to_string(round) + "-" + std::to_string(i);
      const std::string content = fs::exists(outbox() / name) ? read_file(outbox() / name) : "(missing)";
      if (content.empty()) ++empty;
      if (content != name + ":begin;end") ++wrong;
    }
  }
  EXPECT_EQ(empty, 0);
  EXPECT_EQ(wrong, 0);
  EXPECT_TRUE(eventually([&] {
    for (const auto& e : fs::directory_iterator(inbox())) {
      if (e.path().filename().string()[0] != '.') return false;
    }
    return true;
  }));
}

// Spool: a writer that keeps its file open for two seconds between two writes. Before, the
// output got the first part and the spool file was removed while the writer still wrote to it.
TEST_F(HostileFiles, AFileHeldOpenBetweenWritesIsTakenOnlyOnceItsWriterClosedIt) {
  start();
  const int fd = ::open((inbox() / "report").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "part one;", 9), 9);
  drop_marker_and_wait();  // the input is running and has looked at the spool since
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_FALSE(fs::exists(outbox() / "report")) << "taken while still open for writing";
  EXPECT_EQ(read_file(inbox() / "report"), "part one;");
  ASSERT_EQ(::write(fd, " part two", 9), 9);
  ::close(fd);
  ASSERT_TRUE(eventually([&] { return instance->delivered() == 2; }));
  EXPECT_EQ(read_file(outbox() / "report"), "part one; part two");
  EXPECT_FALSE(fs::exists(inbox() / "report"));
}

// Spool: a 400 KB sidecar of 200,000 nested arrays. Before, the service died with SIGSEGV
// (the nesting overflowed a worker's stack) and again at every restart, since the file stayed.
TEST_F(HostileFiles, ASidecarNestedTwoHundredThousandLevelsDeepIsSetAsideAndTheServiceRuns) {
  start();
  write_file(dir->path() / "deep.headers.json", std::string(200'000, '[') + std::string(200'000, ']'));
  write_file(dir->path() / "deep", "payload");
  fs::rename(dir->path() / "deep.headers.json", inbox() / "deep.headers.json");
  fs::rename(dir->path() / "deep", inbox() / "deep");
  drop_marker_and_wait();
  ASSERT_TRUE(eventually([&] { return fs::exists(inbox() / ".rejected" / "deep"); }));
  EXPECT_EQ(read_file(inbox() / ".rejected" / "deep"), "payload");
  EXPECT_TRUE(fs::exists(inbox() / ".rejected" / "deep.headers.json"));
  EXPECT_FALSE(fs::exists(outbox() / "deep"));
  EXPECT_FALSE(instance->process().wait_exit(std::chrono::milliseconds(0)).has_value()) << "the service died";
  EXPECT_EQ(count_of(instance->process().log(), "deep is a file whose headers (deep.headers.json) nest deeper than 64 levels; moved to"), 1);
}

// Spool: sidecars of every wrong shape and files with odd names. The payload always
// arrives; headers that cannot be taken are left out with a WARN that names the file; a
// sidecar's file_name cannot move the output outside its directory.
TEST_F(HostileFiles, OddSidecarsAndNamesStillDeliverThePayloadAndTheLogSaysWhy) {
  start();
  const auto drop = [&](const std::string& name, const std::string& payload, const std::optional<std::string>& sidecar) {
    if (sidecar) {
      write_file(dir->path() / ".sidecar", *sidecar);
      fs::rename(dir->path() / ".sidecar", inbox() / (name + ".headers.json"));
    }
    write_file(dir->path() / ".payload", payload);
    fs::rename(dir->path() / ".payload", inbox() / name);
  };
  std::string many_keys = "{";
  for (int i = 0; i < 40000; ++i) many_keys += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":\"v\"";
  many_keys += "}";
  drop("array", "array-payload", "[1, 2, 3]");
  drop("bad-utf8", "bad-utf8-payload", "{\"k\": \"a\xff" "b\"}");
  drop("big-sidecar", "big-sidecar-payload", "{\"k\": \"" + std::string(2 << 20, 'x') + "\"}");
  drop("many-keys", "many-keys-payload", many_keys);
  drop("empty", "", std::nullopt);
  drop("escape", "escape-payload", R"({"file_name": "../escape"})");
  drop("line\nbreak\x1b[31m", "control-payload", std::nullopt);
  // A name that would forge a log line where the WARN about its unreadable sidecar quotes it.
  drop("forged\n2026-12-07 [error] fake line", "forged-payload", "not json");
  ASSERT_TRUE(eventually([&] { return instance->delivered() == 8; }, std::chrono::seconds(20)))
      << "delivered " << instance->delivered();
  EXPECT_EQ(read_file(outbox() / "array"), "array-payload");
  EXPECT_EQ(read_file(outbox() / "bad-utf8"), "bad-utf8-payload");
  EXPECT_EQ(read_file(outbox() / "big-sidecar"), "big-sidecar-payload");
  EXPECT_EQ(read_file(outbox() / "many-keys"), "many-keys-payload");
  EXPECT_NE(read_file(outbox() / "many-keys.headers.json").find("\"k39999\""), std::string::npos);
  EXPECT_TRUE(fs::exists(outbox() / "empty"));
  EXPECT_EQ(read_file(outbox() / "empty"), "");
  EXPECT_EQ(read_file(outbox() / "escape"), "escape-payload");
  EXPECT_FALSE(fs::exists(dir->path() / "escape"));
  EXPECT_EQ(read_file(outbox() / "line\nbreak\x1b[31m"), "control-payload");
  const std::string log = instance->process().log();
  EXPECT_EQ(count_of(log, "ignoring unreadable headers of bad-utf8"), 1) << log;
  EXPECT_EQ(count_of(log, "ignoring the headers of big-sidecar"), 1) << log;
  EXPECT_EQ(read_file(outbox() / "forged\n2026-12-07 [error] fake line"), "forged-payload");
  EXPECT_EQ(count_of(log, "ignoring unreadable headers of forged\\x0a2026-12-07 [error] fake line"), 1) << log;
  EXPECT_EQ(count_of(log, "\n2026-12-07 [error] fake line"), 0) << log;
  EXPECT_TRUE(eventually([&] {
    for (const auto& e : fs::directory_iterator(inbox())) {
      if (e.path().filename().string()[0] != '.') return false;
    }
    return true;
  }));
}

// Spool: a file that crashes the service, started again after each death as systemd's
// Restart=on-failure does. Debug builds abort on a payload named by MI_TEST_CRASH_ON_PAYLOAD,
// standing in for a parser bug that a hostile file hits. Before, the file stayed in the spool
// and crashed every start. Now (consumer.max-crashes 2) the third start sets it aside in
// .rejected/, says so in an ERROR line, and the files behind it flow.
TEST_F(HostileFiles, AFileThatCrashesTheServiceTwiceIsSetAsideAtTheThirdStart) {
  for (const std::string name : {"before", "killer", "after-1", "after-2"}) {
    write_file(dir->path() / name, name == "killer" ? "crash here" : name);
    fs::rename(dir->path() / name, inbox() / name);
  }
  port = free_port();
  write_file(dir->path() / "application.yml", standalone_config(port));
  std::vector<int> exits;
  std::unique_ptr<Process> survivor;
  for (int start = 1; start <= 4 && !survivor; ++start) {
    auto process = std::make_unique<Process>(MI_BINARY_PATH, std::vector<std::string>{}, dir->path(),
                                             dir->path() / ("start-" + std::to_string(start) + ".log"),
                                             std::map<std::string, std::string>{{"MI_TEST_CRASH_ON_PAYLOAD", "crash here"}});
    // Each start either dies on the file or sets it aside.
    std::optional<int> exit_code;
    ASSERT_TRUE(eventually([&] {
      exit_code = process->wait_exit(std::chrono::milliseconds(0));
      return exit_code.has_value() || fs::exists(inbox() / ".rejected" / "killer");
    }, std::chrono::seconds(20))) << "start " << start << " neither died nor set the file aside:\n" << process->log();
    if (exit_code) {
      exits.push_back(*exit_code);
    } else {
      survivor = std::move(process);
    }
  }
  EXPECT_EQ(exits, (std::vector<int>{128 + SIGABRT, 128 + SIGABRT}));
  ASSERT_TRUE(survivor) << "the service died at every start";
  EXPECT_EQ(read_file(inbox() / ".rejected" / "killer"), "crash here");
  for (const std::string name : {"before", "after-1", "after-2"}) {
    EXPECT_TRUE(eventually([&] { return fs::exists(outbox() / name) && read_file(outbox() / name) == name; })) << name;
  }
  EXPECT_FALSE(fs::exists(outbox() / "killer"));
  EXPECT_FALSE(survivor->wait_exit(std::chrono::milliseconds(0)).has_value()) << "the service died";
  EXPECT_EQ(count_of(survivor->log(), "file killer set aside: the process died 2 times while holding it"), 1)
      << survivor->log();
  EXPECT_EQ(count_of(read_file(dir->path() / "start-2.log"), "the process ended while it held 1 message(s)"), 1);
}

// Hostile brokers: the output of a file workflow points at a server that speaks the protocol
// badly on purpose (hostile_server.h), for each protocol the binders speak. Each time the
// instance keeps serving its API, reports what went wrong in the workflow's lastError, does
// not hold what the server floods it with, reconnects with back-off rather than in a loop,
// and loses nothing: the spool file stays until an output stores it.
struct HostileBrokerCase {
  std::string protocol;  // amqp091, amqp10, mqtt
  HostileServer::Behaviour behaviour;
};

std::string behaviour_name(HostileServer::Behaviour b);
void PrintTo(const HostileBrokerCase& c, std::ostream* os) { *os << c.protocol << " " << behaviour_name(c.behaviour); }

std::string behaviour_name(HostileServer::Behaviour b) {
  switch (b) {
    case HostileServer::Behaviour::kAcceptAndClose: return "AcceptsAndCloses";
    case HostileServer::Behaviour::kGarbage: return "SendsGarbage";
    case HostileServer::Behaviour::kHugeFrame: return "AnnouncesAHugeFrameAndFloods";
    case HostileServer::Behaviour::kSlowDrip: return "DripsAFrameAByteAt200ms";
  }
  return "";
}

// The protocol's greeting, then the header of a frame (packet) of about 2 GiB.
std::string huge_frame_start(const std::string& protocol) {
  using namespace std::string_literals;
  if (protocol == "amqp091") return "\x01\x00\x00\x7f\xff\xff\xf0"s;  // method frame, channel 0
  if (protocol == "amqp10") return "AMQP\x03\x01\x00\x00"s + "\x7f\xff\xff\xf0\x02\x01\x00\x00"s;  // SASL layer
  return "\x20\xff\xff\xff\x7f"s;  // MQTT CONNACK, remaining length 268,435,455
}

// The same with a frame (packet) of 1,000 bytes, which a client would wait for.
std::string plausible_frame_start(const std::string& protocol) {
  using namespace std::string_literals;
  if (protocol == "amqp091") return "\x01\x00\x00\x00\x00\x03\xe8"s;
  if (protocol == "amqp10") return "AMQP\x03\x01\x00\x00"s + "\x00\x00\x03\xe8\x02\x01\x00\x00"s;
  return "\x20\xe8\x07"s;
}

class HostileBroker : public ::testing::TestWithParam<HostileBrokerCase> {
 protected:
  void TearDown() override {
    if (HasFailure() && instance) std::cerr << "instance log:\n" << instance->process().log();
  }
  std::string output_binder(int port) const {
    const std::string at = "host: 127.0.0.1, port: " + std::to_string(port);
    if (GetParam().protocol == "amqp091") return "{type: rabbit, environment: {spring.rabbitmq: {" + at + "}}}";
    if (GetParam().protocol == "amqp10") {
      return "{type: amqp, environment: {amqp: {" + at + ", username: guest, password: guest}}}";
    }
    return "{type: mqtt, environment: {mqtt: {" + at + "}}}";
  }
  std::unique_ptr<TempDir> dir;
  std::unique_ptr<Instance> instance;
};

TEST_P(HostileBroker, TheInstanceServesReportsReconnectsCalmlyAndLosesNothing) {
  dir = std::make_unique<TempDir>("hostile-broker-" + GetParam().protocol + "-" + behaviour_name(GetParam().behaviour));
  fs::create_directories(dir->path() / "inbox");
  write_file(dir->path() / "keep", "precious");
  fs::rename(dir->path() / "keep", dir->path() / "inbox" / "keep");
  const bool drip = GetParam().behaviour == HostileServer::Behaviour::kSlowDrip;
  HostileServer server(GetParam().behaviour,
                       drip ? plausible_frame_start(GetParam().protocol) : huge_frame_start(GetParam().protocol));
  const int port = free_port();
  instance = std::make_unique<Instance>(dir->path(), server_and_users_config(port) + R"(    workflows:
      0: {enabled: true}
spring:
  cloud:
    stream:
      binders:
        disk: {type: file}
        hostile: )" + output_binder(server.port()) + R"(
      bindings:
        input-0: {destination: inbox, binder: disk}
        output-0: {destination: out, binder: hostile}
      rabbit.bindings.output-0.producer.routing-key: out
)", port);
  auto reader = instance->client();
  std::string error;
  ASSERT_TRUE(eventually([&] {
    auto res = reader.Get("/actuator/workflows/0");
    error = res && res->status == 200 ? nlohmann::json::parse(res->body).value("lastError", "") : "";
    return !error.empty();
  }, std::chrono::seconds(30))) << "no error reported; connections: " << server.connections();
  std::cout << GetParam().protocol << " / " << behaviour_name(GetParam().behaviour) << ": " << error << "\n";
  // What the server sent is quoted in a bounded, printable form (common/printable.h).
  EXPECT_LT(error.size(), 700u);
  EXPECT_EQ(error.find_first_of("\n\r\x1b"), std::string::npos);
  const int connections_then = server.connections();
  std::this_thread::sleep_for(std::chrono::seconds(3));
  // Back-off: 1 s, then 2 s... A loop would have made hundreds of connections.
  EXPECT_LE(server.connections() - connections_then, 4);
  const auto asked = std::chrono::steady_clock::now();
  auto health = instance->anonymous_client().Get("/actuator/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(nlohmann::json::parse(health->body).value("status", ""), "RECONNECTING");  // the output is down
  EXPECT_LT(std::chrono::steady_clock::now() - asked, std::chrono::seconds(2));
  EXPECT_FALSE(instance->process().wait_exit(std::chrono::milliseconds(0)).has_value()) << "the service died";
  // The server offered up to 512 MiB in one frame; the service with sanitizers is ~150 MiB.
  EXPECT_LT(peak_resident_mib(instance->process().pid()), 400) << "took " << server.filler_sent() << " bytes";
  EXPECT_EQ(read_file(dir->path() / "inbox" / "keep"), "precious");
  // A stop is not held up by a connection attempt the server keeps waiting.
  const auto stopping = std::chrono::steady_clock::now();
  instance->process().signal(SIGTERM);
  EXPECT_EQ(instance->process().wait_exit(std::chrono::seconds(15)), 0);
  std::cout << "stopped in " << std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now() - stopping).count() << " ms\n";
  EXPECT_EQ(read_file(dir->path() / "inbox" / "keep"), "precious");
}

std::vector<HostileBrokerCase> hostile_broker_cases() {
  std::vector<HostileBrokerCase> cases;
  for (const char* protocol : {"amqp091", "amqp10", "mqtt"}) {
    for (auto b : {HostileServer::Behaviour::kAcceptAndClose, HostileServer::Behaviour::kGarbage,
                   HostileServer::Behaviour::kHugeFrame, HostileServer::Behaviour::kSlowDrip}) {
      cases.push_back({protocol, b});
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Protocols, HostileBroker, ::testing::ValuesIn(hostile_broker_cases()),
                         [](const ::testing::TestParamInfo<HostileBrokerCase>& param_info) {
                           return param_info.param.protocol + behaviour_name(param_info.param.behaviour);
                         });

// A raw TCP connection to the instance, for what no well-behaved client sends.
class RawConnection {
 public:
  explicit RawConnection(int port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;
  bool connected() const { return connected_; }
  // False once the peer has closed or reset.
  bool send(const std::string& data) {
    return ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
  }
  // Everything until the peer closes, or until `timeout` passes without a byte.
  std::string read_all(std::chrono::milliseconds timeout) {
    std::string out;
    char buf[65536];
    for (;;) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) break;
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

 private:
  int fd_;
  bool connected_ = false;
};

std::vector<int> statuses_of(const std::string& responses) {
  std::vector<int> out;
  for (size_t at = responses.find("HTTP/1.1 "); at != std::string::npos; at = responses.find("HTTP/1.1 ", at + 1)) {
    out.push_back(std::stoi(responses.substr(at + 9, 3)));
  }
  return out;
}

class HostileHttp : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::make_unique<TempDir>(::testing::UnitTest::GetInstance()->current_test_info()->name());
    port = free_port();
    instance = std::make_unique<Instance>(dir->path(), standalone_config(port), port);
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "instance log:\n" << instance->process().log();
  }
  // Times GET /actuator/health on a new connection; -1 if it got no 200 within 3 s.
  long health_ms() {
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(3, 0);
    c.set_read_timeout(3, 0);
    const auto start = std::chrono::steady_clock::now();
    auto res = c.Get("/actuator/health");
    if (!res || res->status != 200) return -1;
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  }

  std::unique_ptr<TempDir> dir;
  std::unique_ptr<Instance> instance;
  int port = 0;
};

// Row 3: slow clients (a header byte at a time) and hundreds of idle connections.
TEST_F(HostileHttp, Row3SlowAndIdleClientsDoNotStallHealthNorTheStop) {
  std::vector<std::unique_ptr<RawConnection>> idle;
  for (int i = 0; i < 500; ++i) idle.push_back(std::make_unique<RawConnection>(port));
  std::vector<std::unique_ptr<RawConnection>> slow;
  for (int i = 0; i < 8; ++i) slow.push_back(std::make_unique<RawConnection>(port));
  const std::string request = "GET /actuator/health HTTP/1.1\r\nHost: x\r\nX-Padding: ";
  std::vector<long> latencies;
  for (size_t byte = 0; byte < 30; ++byte) {
    for (auto& c : slow) c->send(std::string(1, request[byte % request.size()]));
    const long ms = health_ms();
    ASSERT_GE(ms, 0) << "health did not answer while slow and idle clients were open (round " << byte << ")";
    latencies.push_back(ms);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::sort(latencies.begin(), latencies.end());
  std::cout << "health latency with 500 idle and 8 slow clients (" << latencies.size() << " requests): p50 "
            << latencies[latencies.size() / 2] << " ms, max " << latencies.back() << " ms\n";
  // The stop does not wait for any of them.
  for (auto& c : slow) c->send("x");
  const auto start = std::chrono::steady_clock::now();
  instance->process().signal(SIGTERM);
  const auto code = instance->process().wait_exit(std::chrono::seconds(5));
  ASSERT_TRUE(code.has_value()) << "SIGTERM waited for the clients";
  EXPECT_EQ(*code, 0);
  std::cout << "stop with clients open: "
            << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count()
            << " ms\n";
}

// Row 4: a 200 MB chunked body without credentials; 200,000 headers.
TEST_F(HostileHttp, Row4OversizedBodiesAndHeadersAreRefusedBeforeTheyAreRead) {
  const long baseline = peak_resident_mib(instance->process().pid());
  {
    RawConnection c(port);
    ASSERT_TRUE(c.send("POST /actuator/workflows/0 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n"));
    const std::string chunk = "100000\r\n" + std::string(0x100000, 'a') + "\r\n";
    size_t sent = 0;
    while (sent < 200u * 1024 * 1024 && c.send(chunk)) sent += chunk.size();
    EXPECT_LT(sent, 16u * 1024 * 1024) << "the server kept reading the body";
    const std::string answer = c.read_all(std::chrono::milliseconds(2000));
    EXPECT_EQ(answer.rfind("HTTP/1.1 413", 0), 0u) << answer.substr(0, 200);
  }
  {
    RawConnection c(port);
    std::string request = "GET /actuator/health HTTP/1.1\r\nHost: x\r\n";
    for (int i = 0; i < 200000; ++i) request += "a" + std::to_string(i) + ": b\r\n";
    c.send(request + "\r\n");
    const std::string answer = c.read_all(std::chrono::milliseconds(2000));
    EXPECT_EQ(answer.rfind("HTTP/1.1 431", 0), 0u) << answer.substr(0, 200);
  }
  {
    RawConnection c(port);
    std::string request = "GET /actuator/health HTTP/1.1\r\nHost: x\r\n";
    for (int i = 0; i < 150; ++i) request += "h" + std::to_string(i) + ": v\r\n";
    c.send(request + "\r\n");
    const std::string answer = c.read_all(std::chrono::milliseconds(2000));
    EXPECT_EQ(answer.rfind("HTTP/1.1 431", 0), 0u) << answer.substr(0, 200);
  }
  EXPECT_LT(peak_resident_mib(instance->process().pid()) - baseline, 50);
  EXPECT_GE(health_ms(), 0);
}

// Row 13: a cross-site form post (text/plain, foreign Origin) with valid credentials.
TEST_F(HostileHttp, Row13ACrossSiteChangeIsRefused) {
  auto admin = instance->client(kAdminUser, kAdminPassword);
  auto plain = admin.Post("/actuator/workflows/0", R"({"state":"STOPPED"})", "text/plain");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->status, 415);
  httplib::Headers foreign = {{"Origin", "http://evil.example"}};
  auto cross = admin.Post("/actuator/workflows/0", foreign, R"({"state":"STOPPED"})", "application/json");
  ASSERT_TRUE(cross);
  EXPECT_EQ(cross->status, 403);
  auto state = admin.Get("/actuator/workflows/0");
  ASSERT_TRUE(state);
  EXPECT_NE(state->body.find("\"state\": \"running\""), std::string::npos) << state->body;
}

// Row 14: four pipelined GETs in one write.
TEST_F(HostileHttp, Row14PipelinedRequestsAreAllAnsweredInOrder) {
  RawConnection c(port);
  const std::string auth = "Authorization: Basic cmVhZGVyOnJlYWRlci1zZWNyZXQtcHc=\r\n";  // reader
  c.send("GET /actuator/health HTTP/1.1\r\nHost: x\r\n\r\n"
         "GET /actuator/nothing HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n"
         "GET /actuator/info HTTP/1.1\r\nHost: x\r\n\r\n"
         "GET /actuator/info HTTP/1.1\r\nHost: x\r\n" + auth + "Connection: close\r\n\r\n");
  EXPECT_EQ(statuses_of(c.read_all(std::chrono::milliseconds(3000))), (std::vector<int>{200, 404, 401, 200}));
}

// Row 16: no credentials: an unknown endpoint answers as a known one does.
TEST_F(HostileHttp, Row16WithoutCredentialsUnknownAndKnownEndpointsLookTheSame) {
  auto anonymous = instance->anonymous_client();
  auto env = anonymous.Get("/actuator/env");
  auto workflows = anonymous.Get("/actuator/workflows");
  ASSERT_TRUE(env && workflows);
  EXPECT_EQ(env->status, 401);
  EXPECT_EQ(workflows->status, 401);
}

class HostileConfig : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::make_unique<TempDir>(::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  // --check-config, killed after 10 s (exit 137) if it hung or kept growing (no address
  // space limit: the sanitizers' shadow memory needs terabytes of it).
  RunResult check(std::vector<std::string> args) {
    std::vector<std::string> wrapped = {"-s", "KILL", "10", MI_BINARY_PATH, "--check-config"};
    wrapped.insert(wrapped.end(), args.begin(), args.end());
    return run_to_completion("/usr/bin/timeout", wrapped, dir->path());
  }
  RunResult check_yaml(const std::string& yaml, std::vector<std::string> args = {}) {
    write_file(dir->path() / "application.yml", yaml);
    return check(std::move(args));
  }
  std::unique_ptr<TempDir> dir;
};

// Row 7: "billion laughs": nine levels of nine aliases, 520 bytes.
TEST_F(HostileConfig, Row7AliasExpansionIsBounded) {
  std::string yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n";
  for (int level = 1; level <= 9; ++level) {
    const std::string prev = "*a" + std::to_string(level - 1);
    yaml += "a" + std::to_string(level) + ": &a" + std::to_string(level) + " [";
    for (int i = 0; i < 9; ++i) yaml += (i ? ", " : "") + prev;
    yaml += "]\n";
  }
  const auto r = check_yaml(yaml);
  EXPECT_EQ(r.exit_code, 2) << r.output.substr(0, 2000);
  EXPECT_NE(r.output.find("too large once its aliases are expanded"), std::string::npos) << r.output.substr(0, 2000);
}

// Row 8: a device, a link to one, a FIFO and a directory as the configuration; a huge file.
TEST_F(HostileConfig, Row8OnlyRegularFilesOfSaneSizeAreRead) {
  fs::create_symlink("/dev/zero", dir->path() / "zero.yml");
  ASSERT_EQ(::mkfifo((dir->path() / "fifo.yml").c_str(), 0600), 0);
  fs::create_directories(dir->path() / "dir.yml");
  write_file(dir->path() / "huge.yml", "# " + std::string(2 * 1024 * 1024, 'x') + "\n");
  for (const std::string file : {"/dev/zero", "zero.yml", "fifo.yml", "dir.yml"}) {
    const auto r = check({"--config", file});
    EXPECT_EQ(r.exit_code, 2) << file << ": " << r.output;
    EXPECT_NE(r.output.find("not a regular file"), std::string::npos) << file << ": " << r.output;
  }
  const auto r = check({"--config", "huge.yml"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("larger than 1048576 bytes"), std::string::npos) << r.output;
}

// Row 9: a list or map where a secret belongs.
TEST_F(HostileConfig, Row9AListWhereASecretBelongsIsAnErrorThatNeverShowsIt) {
  const auto r = check_yaml(
      "solace.connector.management.session.client-password: [S3cretList]\n"
      "spring.cloud.stream.binders.b.environment.spring.rabbitmq.password: {nested: S3cretMap}\n");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_EQ(r.output.find("S3cret"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("client-password[0]"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("a list or map where a single value belongs"), std::string::npos) << r.output;
}

// Rows 10 and 11: numbers that are valid but absurd.
TEST_F(HostileConfig, Rows10And11AbsurdNumbersAreRefusedWithTheirBounds) {
  const std::map<std::string, std::string> cases = {
      {"--spring.cloud.stream.bindings.input-0.consumer.back-off-multiplier=1e300", "must be 1 .. 10"},
      {"--solace.connector.management.leader-election.fail-over.max-attempts=4294967296", "must be 1 .. 1000000"},
      {"--spring.lifecycle.timeout-per-shutdown-phase=110000d", "must be 0ms .. 60m"},
  };
  for (const auto& [arg, expected] : cases) {
    const auto r = check({arg});
    EXPECT_EQ(r.exit_code, 2) << arg << ": " << r.output;
    EXPECT_NE(r.output.find(expected), std::string::npos) << arg << ": " << r.output;
  }
}

// Row 12: misspelt and unsupported server and management keys; HTTPS without a certificate.
TEST_F(HostileConfig, Row12UnknownServerKeysAreWarnedAndHttpsNeedsItsFiles) {
  const auto warned = check({"--server.adress=127.0.0.1", "--management.server.prot=9999"});
  EXPECT_EQ(warned.exit_code, 0) << warned.output;
  EXPECT_NE(warned.output.find("server.adress"), std::string::npos) << warned.output;
  EXPECT_NE(warned.output.find("did you mean 'server.address'"), std::string::npos) << warned.output;
  EXPECT_NE(warned.output.find("management.server.prot: unknown key; did you mean 'management.server.port'"),
            std::string::npos)
      << warned.output;
  const auto https = check({"--server.ssl.enabled=true"});
  EXPECT_EQ(https.exit_code, 2) << https.output;
  EXPECT_NE(https.output.find("server.ssl.certificate"), std::string::npos) << https.output;
}

TEST_F(HostileConfig, DuplicateKeysInOneFileAreWarned) {
  const auto r = check_yaml("server:\n  port: 1234\n  port: 5678\n");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("duplicate key"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("server.port = 5678"), std::string::npos) << r.output;
}

// Odd requests from a client that holds the admin role: ids out of range, bodies of the
// wrong shape, paths with dots and NULs, credentials that are not Basic credentials. Each
// is answered with its 4xx; the instance and its workflow carry on.
TEST_F(HostileHttp, OddPathsBodiesAndCredentialsAreAnsweredWithTheirClientErrors) {
  const std::string admin = "Basic YWRtaW46YWRtaW4tc2VjcmV0LXB3";  // admin:admin-secret-pw
  struct Odd {
    std::string method, path, authorization, body;
    int status;
  };
  const std::vector<Odd> odd = {
      {"GET", "/actuator/workflows/99999999999999999999", admin, "", 404},
      {"GET", "/actuator/workflows/-1", admin, "", 404},
      {"GET", "/actuator/workflows/0x1", admin, "", 404},
      {"GET", "/actuator/workflows/0%00", admin, "", 404},
      {"GET", "/actuator/../actuator/workflows", admin, "", 404},
      {"GET", "/actuator/loggers/" + std::string(4000, 'a'), admin, "", 404},
      {"POST", "/actuator/workflows/0", admin, R"({"state": 5})", 400},
      {"POST", "/actuator/workflows/0", admin, R"([{"state": "STOPPED"}])", 400},
      {"POST", "/actuator/workflows/0", admin, R"({"state": "STOPPED\u0000"})", 400},
      {"POST", "/actuator/workflows/0", admin, R"({"state": ")" + std::string(15000, 'A') + R"("})", 400},
      {"GET", "/actuator/workflows", "Basic !!!not-base64", "", 401},
      {"GET", "/actuator/workflows", "Basic YWRtaW4=", "", 401},  // "admin": no colon, no password
  };
  for (const auto& o : odd) {
    RawConnection c(port);
    ASSERT_TRUE(c.connected());
    std::string request = o.method + " " + o.path + " HTTP/1.1\r\nHost: x\r\nAuthorization: " + o.authorization +
                          "\r\nConnection: close\r\n";
    if (o.method == "POST") {
      request += "Content-Type: application/json\r\nContent-Length: " + std::to_string(o.body.size()) + "\r\n";
    }
    ASSERT_TRUE(c.send(request + "\r\n" + o.body));
    EXPECT_EQ(statuses_of(c.read_all(std::chrono::seconds(3))), std::vector<int>{o.status})
        << o.method << " " << o.path.substr(0, 80) << " " << o.body.substr(0, 80);
  }
  EXPECT_GE(health_ms(), 0);
  auto workflow = instance->client().Get("/actuator/workflows/0");
  ASSERT_TRUE(workflow);
  EXPECT_EQ(nlohmann::json::parse(workflow->body).value("state", ""), "running");
  EXPECT_FALSE(instance->process().wait_exit(std::chrono::milliseconds(0)).has_value()) << "the service died";
}

// Row 15: SIGHUP.
TEST_F(HostileHttp, Row15SighupStopsGracefully) {
  instance->process().signal(SIGHUP);
  const auto code = instance->process().wait_exit(std::chrono::seconds(10));
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0);
  EXPECT_NE(instance->process().log().find("received Hangup: stopping workflows"), std::string::npos);
}

// Row 16: security off on an address others can reach.
TEST(HostileSecurityOff, Row16SecurityOffOnANonLoopbackAddressIsWarned) {
  TempDir dir("security-off");
  const int port = free_port();
  std::string config = standalone_config(port);
  config.replace(config.find("address: 127.0.0.1"), 18, "address: 0.0.0.0");
  Instance instance(dir.path(), config, port, {"--solace.connector.security.enabled=false"});
  EXPECT_TRUE(eventually([&] { return instance.process().log().find("security is disabled") != std::string::npos; }));
}

}  // namespace
}  // namespace mi::integration

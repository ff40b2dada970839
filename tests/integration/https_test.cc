// HTTPS for the management API with certificates the test makes (openssl), checked with curl
// as an operator would.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <random>

#include <gtest/gtest.h>

#include <thread>

#include "instance.h"

namespace mi::integration {
namespace {
namespace fs = std::filesystem;

// A CA, a server certificate for 127.0.0.1, client certificates: good, expired, and one
// from another CA. Made once for all tests.
class Certificates {
 public:
  Certificates() : dir_("https-certificates") {
    openssl({"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "30",
             "-subj", "/CN=test-ca"});
    openssl({"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other-ca.key", "-out", "other-ca.pem",
             "-days", "30", "-subj", "/CN=other-ca"});
    write_file(dir_.path() / "server.ext", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
    write_file(dir_.path() / "client.ext", "extendedKeyUsage=clientAuth\n");
    sign("server", "ca", "server.ext", "30");
    sign("client", "ca", "client.ext", "30");
    sign("rogue-client", "other-ca", "client.ext", "30");
    sign("expired-client", "ca", "client.ext", "0");  // valid until the second it was made
    write_file(dir_.path() / "garbage.pem", "not a certificate\n");
  }
  std::string path(const std::string& name) const { return (dir_.path() / name).string(); }

 private:
  void openssl(std::vector<std::string> args) {
    const auto r = run_to_completion("/usr/bin/openssl", args, dir_.path());
    if (r.exit_code != 0) throw std::runtime_error("openssl failed: " + r.output);
  }
  void sign(const std::string& name, const std::string& ca, const std::string& ext, const std::string& days) {
    openssl({"req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out", name + ".csr", "-subj",
             "/CN=" + name});
    openssl({"x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key", "-CAcreateserial",
             "-out", name + ".pem", "-days", days, "-extfile", ext});
  }
  TempDir dir_;
};

class Https : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { certificates = new Certificates(); }
  static void TearDownTestSuite() {
    delete certificates;
    certificates = nullptr;
  }
  void SetUp() override {
    dir = std::make_unique<TempDir>(::testing::UnitTest::GetInstance()->current_test_info()->name());
    port = free_port();
  }
  void TearDown() override {
    if (HasFailure() && process) std::cerr << "instance log:\n" << process->log();
  }
  std::vector<std::string> ssl_args(const std::string& client_auth = "none") const {
    std::vector<std::string> args = {"--server.ssl.enabled=true",
                                     "--server.ssl.certificate=" + certificates->path("server.pem"),
                                     "--server.ssl.certificate-private-key=" + certificates->path("server.key"),
                                     "--server.ssl.client-auth=" + client_auth};
    if (client_auth != "none") args.push_back("--server.ssl.trust-certificate=" + certificates->path("ca.pem"));
    return args;
  }
  // Starts the instance and waits for its HTTPS listener.
  void start(const std::vector<std::string>& args) {
    write_file(dir->path() / "application.yml", standalone_config(port));
    process = std::make_unique<Process>(MI_BINARY_PATH, args, dir->path(), dir->path() / "instance.log");
    ASSERT_TRUE(eventually([&] { return process->log().find("listening on https://") != std::string::npos; }))
        << process->log();
  }
  // curl's exit code and body for GET /actuator/health.
  RunResult curl(std::vector<std::string> options, const std::string& scheme = "https") {
    std::vector<std::string> args = {"-sS", "--max-time", "5"};
    args.insert(args.end(), options.begin(), options.end());
    args.push_back(scheme + "://127.0.0.1:" + std::to_string(port) + "/actuator/health");
    return run_to_completion("/usr/bin/curl", args, dir->path());
  }
  // Runs the instance, which must refuse to start (killed after 10 s if it does not).
  RunResult run_expecting_refusal(const std::vector<std::string>& args) {
    write_file(dir->path() / "application.yml", standalone_config(port));
    std::vector<std::string> wrapped = {"-s", "KILL", "10", MI_BINARY_PATH};
    wrapped.insert(wrapped.end(), args.begin(), args.end());
    return run_to_completion("/usr/bin/timeout", wrapped, dir->path());
  }

  static Certificates* certificates;
  std::unique_ptr<TempDir> dir;
  std::unique_ptr<Process> process;
  int port = 0;
};
Certificates* Https::certificates = nullptr;

TEST_F(Https, ServesWithItsCertificateToClientsThatTrustItsCa) {
  start(ssl_args());
  const auto good = curl({"--cacert", certificates->path("ca.pem")});
  EXPECT_EQ(good.exit_code, 0) << good.output;
  EXPECT_NE(good.stdout_text.find("\"status\""), std::string::npos) << good.output;
  const auto wrong_ca = curl({"--cacert", certificates->path("other-ca.pem")});
  EXPECT_EQ(wrong_ca.exit_code, 60) << wrong_ca.output;  // peer certificate cannot be authenticated
  const auto plain = curl({}, "http");
  EXPECT_NE(plain.exit_code, 0) << plain.output;
  EXPECT_EQ(plain.stdout_text.find("\"status\""), std::string::npos);
}

TEST_F(Https, OnlyTls12AndNewerAreSpoken) {
  start(ssl_args());
  // SECLEVEL=0 lets the client offer TLS 1.1, so a refusal is the server's own alert.
  const auto handshake = [&](const std::string& version) {
    return run_to_completion("/usr/bin/timeout",
                             {"5", "/usr/bin/openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(port),
                              "-" + version, "-cipher", "DEFAULT:@SECLEVEL=0"},
                             dir->path())
        .output;
  };
  const std::string old = handshake("tls1_1");
  EXPECT_NE(old.find("alert protocol version"), std::string::npos) << old;
  const std::string current = handshake("tls1_2");
  EXPECT_NE(current.find("Protocol  : TLSv1.2"), std::string::npos) << current;
}

// Hostile TLS clients: 25 that send the first 5 bytes of a handshake (a record header
// announcing a 512-byte ClientHello) and stall, and 25 that send 4 KiB of random bytes. While
// they hang on, a good client is answered at once; after server.connection-timeout each
// stalled one is closed by the server; the instance runs on.
TEST_F(Https, HalfHandshakesAndGarbageDoNotStallServingAndAreClosedAfterTheTimeout) {
  auto args = ssl_args();
  args.push_back("--server.connection-timeout=1s");
  start(args);
  const auto connect_raw = [&] {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    return fd;
  };
  std::vector<int> stalled;
  std::mt19937 random(7);
  std::string garbage(4096, '\0');
  for (auto& c : garbage) c = static_cast<char>(random());
  for (int i = 0; i < 25; ++i) {
    stalled.push_back(connect_raw());
    ASSERT_EQ(::send(stalled.back(), "\x16\x03\x01\x02\x00", 5, MSG_NOSIGNAL), 5);
    const int noisy = connect_raw();
    ::send(noisy, garbage.data(), garbage.size(), MSG_NOSIGNAL);
    stalled.push_back(noisy);
  }
  const auto asked = std::chrono::steady_clock::now();
  const auto good = curl({"--cacert", certificates->path("ca.pem")});
  EXPECT_EQ(good.exit_code, 0) << good.output;
  EXPECT_LT(std::chrono::steady_clock::now() - asked, std::chrono::seconds(2));
  // Closed by the server: end of stream or a reset, within the timeout and some slack.
  for (const int fd : stalled) {
    pollfd p{fd, POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 4000), 1) << "a stalled connection was still open after 4 s";
    char buf[256];
    ssize_t n = 0;
    while ((n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
    }  // an alert may come first
    EXPECT_TRUE(n == 0 || errno == ECONNRESET) << "recv: " << n << " errno " << errno;
    ::close(fd);
  }
  EXPECT_FALSE(process->wait_exit(std::chrono::milliseconds(0)).has_value()) << "the service died";
  EXPECT_EQ(curl({"--cacert", certificates->path("ca.pem")}).exit_code, 0);
}

TEST_F(Https, ClientAuthNeedRefusesClientsWithoutAGoodCertificate) {
  start(ssl_args("need"));
  const std::string ca = certificates->path("ca.pem");
  const auto with = [&](const std::string& name) {
    return curl({"--cacert", ca, "--cert", certificates->path(name + ".pem"), "--key", certificates->path(name + ".key")});
  };
  const auto good = with("client");
  EXPECT_EQ(good.exit_code, 0) << good.output;
  EXPECT_NE(good.stdout_text.find("\"status\""), std::string::npos) << good.output;
  const auto none = curl({"--cacert", ca});
  EXPECT_NE(none.exit_code, 0) << none.output;
  const auto rogue = with("rogue-client");
  EXPECT_NE(rogue.exit_code, 0) << rogue.output;
  // The expired certificate was valid until the second it was made; make sure that passed.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  const auto expired = with("expired-client");
  EXPECT_NE(expired.exit_code, 0) << expired.output;
  EXPECT_EQ(expired.stdout_text.find("\"status\""), std::string::npos);
}

TEST_F(Https, ClientAuthWantAcceptsNoCertificateButRefusesABadOne) {
  start(ssl_args("want"));
  const std::string ca = certificates->path("ca.pem");
  const auto none = curl({"--cacert", ca});
  EXPECT_EQ(none.exit_code, 0) << none.output;
  const auto rogue =
      curl({"--cacert", ca, "--cert", certificates->path("rogue-client.pem"), "--key", certificates->path("rogue-client.key")});
  EXPECT_NE(rogue.exit_code, 0) << rogue.output;
}

TEST_F(Https, MissingUnreadableOrMismatchedFilesAreConfigurationErrorsNamingTheKey) {
  struct Case {
    std::string certificate, key, expected;
  };
  const std::vector<Case> cases = {
      {"/nonexistent/server.pem", "server.key", "server.ssl.certificate: cannot read /nonexistent/server.pem"},
      {"server.pem", "/nonexistent/server.key", "server.ssl.certificate-private-key: cannot read /nonexistent/server.key"},
      {"garbage.pem", "server.key", "server.ssl.certificate: "},
      {"server.pem", "client.key", "server.ssl.certificate-private-key"},
  };
  for (const auto& c : cases) {
    const auto path = [&](const std::string& p) { return p[0] == '/' ? p : certificates->path(p); };
    const auto r = run_expecting_refusal({"--server.ssl.enabled=true", "--server.ssl.certificate=" + path(c.certificate),
                                 "--server.ssl.certificate-private-key=" + path(c.key), "--server.address=127.0.0.1",
                                 "--server.port=" + std::to_string(port)});
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find(c.expected), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("PRIVATE KEY-----"), std::string::npos);  // never the key itself
  }
}

}  // namespace
}  // namespace mi::integration

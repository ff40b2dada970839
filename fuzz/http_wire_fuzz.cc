// The bytes are sent as they are, over a real loopback connection, to the management API's
// HTTP server (the one the binary runs, with its limits), then the connection's sending side
// is closed. Whatever the bytes, the server must answer with well-formed HTTP/1.1 responses
// of documented statuses (never 500), JSON bodies that parse, no configured password, and
// close the connection within 5 s once the client has nothing more to say.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "fuzz_support.h"
#include "leader/leader_election.h"
#include "management/http_server.h"
#include "management/management_api.h"
#include "workflow/workflow_manager.h"

namespace {

using namespace mi;

constexpr const char* kConfig = R"(
spring.lifecycle.timeout-per-shutdown-phase: 1s
solace.connector.security.users:
  - {name: reader, password: read-pw-S3cr3tM4rk}
  - {name: admin, password: admin-pw-S3cr3tM4rk, roles: admin}
)";

// One server for the whole run, as in the binary: standalone, no workflows, real time (a
// stop waits for its workflow up to timeout-per-shutdown-phase, by the clock).
struct Served {
  Served() {
    config::PropertySet properties;
    config::Problems problems;
    config::load_yaml_text(kConfig, "fuzz-wire.yml", config::kFileRank, properties, problems);
    const config::Config config(std::move(properties));
    settings = config::build_settings(config, {}, problems);
    if (config::has_errors(problems)) fuzz::fail("the fixed configuration of the http_wire target is invalid");
    workflows = std::make_unique<workflow::WorkflowManager>(settings.workflows, registry, clock, settings.shutdown_timeout);
    leader = std::make_unique<leader::LeaderElection>(settings.mode, settings.fail_over, *workflows, clock);
    leader->request(leader::LeaderState::kActive, 1);
    leader->process_pending();
    api = std::make_unique<management::ManagementApi>(
        management::ManagementContext{&settings, leader.get(), workflows.get(), clock.wall_now(), "fuzz", nullptr, {}},
        management::Authenticator(true, settings.users), clock);
    server = std::make_unique<management::HttpServer>(*api);
    port = server->start("127.0.0.1", 0);
  }

  config::Settings settings;
  workflow::BinderRegistry registry;
  Clock& clock = SystemClock::instance();
  std::unique_ptr<workflow::WorkflowManager> workflows;
  std::unique_ptr<leader::LeaderElection> leader;
  std::unique_ptr<management::ManagementApi> api;
  std::unique_ptr<management::HttpServer> server;
  int port = 0;
};

bool documented_status(int status) {
  for (int s : {100, 200, 400, 401, 403, 404, 405, 409, 413, 415, 431}) {
    if (status == s) return true;
  }
  return false;
}

// Checks every response in what the server sent.
void check_responses(std::string_view wire, bool input_has_marker) {
  while (!wire.empty()) {
    if (wire.substr(0, 9) != "HTTP/1.1 " || wire.size() < 12) fuzz::fail("not an HTTP/1.1 response: " + std::string(wire.substr(0, 80)));
    const int status = std::stoi(std::string(wire.substr(9, 3)));
    if (!documented_status(status)) fuzz::fail("undocumented status " + std::to_string(status));
    const size_t head_end = wire.find("\r\n\r\n");
    if (head_end == std::string_view::npos) fuzz::fail("response head without an end");
    const std::string head(wire.substr(0, head_end));
    size_t length = 0;
    for (std::string_view name : {"Content-Length: ", "content-length: "}) {
      if (const size_t at = head.find(name); at != std::string::npos) length = std::stoul(head.substr(at + name.size()));
    }
    if (wire.size() < head_end + 4 + length) fuzz::fail("response body shorter than its Content-Length");
    const std::string body(wire.substr(head_end + 4, length));
    if (head.find("application/json") != std::string::npos && !nlohmann::json::accept(body)) {
      fuzz::fail("response is not JSON: " + body);
    }
    if (!input_has_marker && fuzz::contains(body, fuzz::kSecretMarker)) fuzz::fail("a configured password in a response");
    wire.remove_prefix(head_end + 4 + length);
  }
}

// libFuzzer's timer signal (-timeout) interrupts system calls: a connect interrupted by it
// goes on in the background, so wait for it and read its outcome.
bool connect_through_signals(int fd, const sockaddr_in& address) {
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) return true;
  if (errno != EINTR) return false;
  pollfd p{fd, POLLOUT, 0};
  while (::poll(&p, 1, 5000) < 0 && errno == EINTR) {
  }
  int error = 0;
  socklen_t length = sizeof error;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) return false;
  errno = error;
  return error == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::silence_logging();
  static Served served;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(served.port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || !connect_through_signals(fd, address)) {
    fuzz::fail(std::string("cannot connect to the server: ") + std::strerror(errno));
  }
  // Inputs are small enough for the socket buffer; the server may close early (a refused
  // request), which is fine.
  size_t sent = 0;
  while (sent < size) {
    const ssize_t n = ::send(fd, data + sent, size - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  std::string wire;
  char buf[65536];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0) fuzz::fail("the server neither answered nor closed within 5 s");
    const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) fuzz::fail("the server neither answered nor closed within 5 s");
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // closed (or reset after a refusal)
    wire.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  check_responses(wire, fuzz::contains(std::string_view(reinterpret_cast<const char*>(data), size), fuzz::kSecretMarker));
  return 0;
}

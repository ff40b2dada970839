// The bytes are one or more HTTP requests in a plain text form:
//
//   [@standby] [@security-off]        optional first line(s): how the instance is set up
//   METHOD PATH[?query] [HTTP/1.1]
//   Name: value                       header lines, names folded to lower case
//                                     an empty line, then the body
//   ====                              a line of four '=' starts the next request
//
// Each input gets a fresh ManagementApi over a fixed configuration (read through the
// config pipeline), in-memory binders, a manual clock and the leader's thread (which carries
// out workflow commands), as management_api_test.cc builds one; its requests are handled in
// order, so a sequence (stop, start, yield, ...) can be reached. ManagementApi::handle never throws and turns an internal exception into a
// 500 "internal error": here any 500 is a bug, and so are an undocumented status, a JSON
// response that does not parse, or a configured password in a response.
// MI_FUZZ_VERBOSE=1 prints each request's status and body (for writing seeds).
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/manual_clock.h"
#include "fuzz_support.h"
#include "leader/leader_election.h"
#include "management/management_api.h"
#include "workflow/workflow_manager.h"

namespace {

using namespace mi;

// Workflows 0 and 1 run over `fake` bindings; workflow 2's input cannot open, so it always
// has an error to show; workflow 3 is configured but disabled.
constexpr const char* kConfig = R"(
solace.connector:
  management:
    leader-election:
      mode: active_standby
      fail-over: {max-attempts: 2, back-off-initial-interval: 10, back-off-max-interval: 20}
    queue: leader.lock
    session.host: file:///nonexistent/fuzz
  security:
    enabled: true
    users:
      - {name: reader, password: read-pw-S3cr3tM4rk}
      - {name: admin, password: admin-pw-S3cr3tM4rk, roles: admin}
  workflows:
    0.enabled: true
    1.enabled: true
    2.enabled: true
    3.enabled: false
spring.cloud.stream:
  default-binder: fake
  bindings:
    input-0.destination: in-0
    output-0.destination: out-0
    input-1.destination: in-1
    output-1.destination: out-1
    input-2.destination: cannot-open
    output-2.destination: out-2
    input-3.destination: in-3
    output-3.destination: out-3
spring.lifecycle.timeout-per-shutdown-phase: 2s
)";

// Inputs that never deliver; receive() waits briefly so running workflows neither spin nor
// hold up a stop for long.
class QuietInput final : public workflow::InputBinding {
 public:
  explicit QuietInput(bool fail_open) : fail_open_(fail_open) {}
  void open() override {
    if (!fail_open_) return;
    // The worker retries at once on the manual clock: a pause keeps that from spinning.
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    throw workflow::BindingError("fake input cannot open");
  }
  std::optional<workflow::Delivery> receive(Millis) override {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    return std::nullopt;
  }
  void ack(const workflow::Delivery&) override {}
  void reject(const workflow::Delivery&) override {}
  void close() override {}

 private:
  bool fail_open_;
};

class NullOutput final : public workflow::OutputBinding {
 public:
  void open() override {}
  void send(const workflow::Message&, const FencingGate*) override {}
  void close() override {}
};

class QuietBinder final : public workflow::Binder {
 public:
  std::string type() const override { return "fake"; }
  std::unique_ptr<workflow::InputBinding> create_input(const config::BindingSettings& s) override {
    return std::make_unique<QuietInput>(s.destination == "cannot-open");
  }
  std::unique_ptr<workflow::OutputBinding> create_output(const config::BindingSettings&) override {
    return std::make_unique<NullOutput>();
  }
};

const config::Settings& fixed_settings() {
  static const config::Settings settings = [] {
    config::PropertySet properties;
    config::Problems problems;
    config::load_yaml_text(kConfig, "fuzz-management.yml", config::kFileRank, properties, problems);
    const config::Config config(std::move(properties));
    for (auto& p : config.validate()) problems.push_back(std::move(p));
    config::Settings s = config::build_settings(config, {"fake"}, problems);
    if (config::has_errors(problems)) {
      std::string all;
      for (const auto& p : problems) all += p.to_string() + "\n";
      fuzz::fail("the fixed configuration of the http_request target is invalid:\n" + all);
    }
    return s;
  }();
  return settings;
}

const workflow::BinderRegistry& registry() {
  static const workflow::BinderRegistry r = [] {
    workflow::BinderRegistry out;
    out.add(std::make_unique<QuietBinder>());
    return out;
  }();
  return r;
}

struct Input {
  bool standby = false;
  bool security = true;
  std::vector<management::HttpRequest> requests;
};

std::string_view next_line(std::string_view& text) {
  const size_t nl = text.find('\n');
  std::string_view line = text.substr(0, nl);
  text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

management::HttpRequest parse_request(std::string_view text) {
  management::HttpRequest r;
  const std::string_view request_line = next_line(text);
  const size_t sp = request_line.find(' ');
  r.method = std::string(request_line.substr(0, sp));
  std::string_view target = sp == std::string_view::npos ? std::string_view() : request_line.substr(sp + 1);
  target = target.substr(0, target.find(' '));  // drop " HTTP/1.1"
  r.path = std::string(target.substr(0, target.find('?')));  // the server strips the query
  while (!text.empty()) {
    const std::string_view line = next_line(text);
    if (line.empty()) break;
    const size_t colon = line.find(':');
    std::string name(line.substr(0, colon));
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    r.headers.emplace(std::move(name), std::string(value));
  }
  // The server refuses larger bodies with 413 before the API sees them.
  r.body = std::string(text.substr(0, management::kMaxRequestBody));
  return r;
}

Input parse_input(std::string_view text) {
  Input in;
  while (!text.empty() && text.front() == '@') {
    const std::string_view directive = next_line(text);
    if (directive == "@standby") in.standby = true;
    if (directive == "@security-off") in.security = false;
  }
  constexpr std::string_view kSeparator = "\n====\n";
  constexpr size_t kMaxRequests = 8;
  while (in.requests.size() < kMaxRequests) {
    const size_t sep = text.find(kSeparator);
    in.requests.push_back(parse_request(text.substr(0, sep)));
    if (sep == std::string_view::npos) break;
    text = text.substr(sep + kSeparator.size());
  }
  return in;
}

bool documented_status(int status) {
  for (int s : {200, 202, 400, 401, 403, 404, 405, 409, 413, 415, 503}) {
    if (status == s) return true;
  }
  return false;
}

void check_response(const management::HttpRequest& request, const management::HttpResponse& response) {
  const std::string where = request.method + " " + request.path + " -> " + std::to_string(response.status);
  if (response.status == 500) fuzz::fail("internal error (an exception inside ManagementApi): " + where + "\n" + response.body);
  if (!documented_status(response.status)) fuzz::fail("undocumented status: " + where);
  if (response.content_type == "application/json" && !nlohmann::json::accept(response.body)) {
    fuzz::fail("response is not JSON: " + where + "\n" + response.body);
  }
  if (response.status == 401 && !response.headers.count("WWW-Authenticate")) {
    fuzz::fail("401 without WWW-Authenticate: " + where);
  }
  const bool echoed = fuzz::contains(request.path, fuzz::kSecretMarker) ||
                      fuzz::contains(request.method, fuzz::kSecretMarker) ||
                      fuzz::contains(request.body, fuzz::kSecretMarker);
  if (!echoed && fuzz::contains(response.body, fuzz::kSecretMarker)) {
    fuzz::fail("a configured password appears in the response: " + where + "\n" + response.body);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::silence_logging();
  const config::Settings& settings = fixed_settings();
  const Input input = parse_input(std::string_view(reinterpret_cast<const char*>(data), size));

  mi::testing::ManualClock clock;
  workflow::WorkflowManager workflows(settings.workflows, registry(), clock, settings.shutdown_timeout);
  leader::LeaderElection leader(settings.mode, settings.fail_over, workflows, clock);
  leader.start();  // its thread carries out the API's workflow commands, as in the binary
  // Waits until the leader's thread has finished a change to `state`.
  auto settle = [&leader](leader::LeaderState state) {
    for (int i = 0; i < 100000; ++i) {
      const auto status = leader.status();
      if (status.state == state && !status.changing) return;
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    fuzz::fail("the leader did not become " + std::string(leader::to_string(state)) + " within 10 s");
  };
  if (!input.standby) {
    leader.request(leader::LeaderState::kActive, 1);
    settle(leader::LeaderState::kActive);
  }
  // What Redundancy::request_yield does, minus the session: an active instance steps down.
  auto request_yield = [&leader, &settle] {
    if (leader.status().state != leader::LeaderState::kActive) return false;
    leader.request(leader::LeaderState::kStandby);
    settle(leader::LeaderState::kStandby);
    return true;
  };
  management::ManagementApi api(
      management::ManagementContext{&settings, &leader, &workflows, clock.wall_now(), "fuzz", nullptr, request_yield},
      management::Authenticator(input.security && settings.security_enabled, settings.users), clock);

  static const bool verbose = std::getenv("MI_FUZZ_VERBOSE") != nullptr;
  for (const auto& request : input.requests) {
    management::HttpResponse response;
    try {
      response = api.handle(request);
    } catch (const std::exception& e) {
      fuzz::fail(std::string("ManagementApi::handle threw (it must never throw): ") + e.what());
    }
    if (verbose) {
      std::fprintf(stderr, "%s %s -> %d %s\n", request.method.c_str(), request.path.c_str(), response.status,
                   response.body.substr(0, 300).c_str());
    }
    check_response(request, response);
    clock.advance(Millis{1});
  }
  return 0;
}

#include "instance.h"

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <thread>

namespace mi::integration {

std::string server_and_users_config(int port) {
  return "server:\n  address: 127.0.0.1\n  port: " + std::to_string(port) + R"(
solace:
  connector:
    security:
      users:
        - {name: reader, password: reader-secret-pw}
        - {name: admin, password: admin-secret-pw, roles: [admin]}
)";
}

std::string standalone_config(int port) {
  return server_and_users_config(port) + R"(    workflows:
      0:
        enabled: true
spring:
  cloud:
    stream:
      binders:
        local: {type: file}
      bindings:
        input-0: {destination: inbox}
        output-0: {destination: outbox}
)";
}

Instance::Instance(const std::filesystem::path& dir, const std::string& config_yaml, int port,
                   std::vector<std::string> extra_args, const std::vector<std::string>& launcher)
    : dir_(dir), port_(port) {
  write_file(dir / "application.yml", config_yaml);
  if (launcher.empty()) {
    process_ = std::make_unique<Process>(MI_BINARY_PATH, extra_args, dir, dir / "instance.log");
  } else {
    std::vector<std::string> args(launcher.begin() + 1, launcher.end());
    args.push_back(MI_BINARY_PATH);
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    process_ = std::make_unique<Process>(launcher.front(), args, dir, dir / "instance.log");
  }
  const bool up = eventually([&] {
    auto res = anonymous_client().Get("/actuator/health");
    return res && (res->status == 200 || res->status == 503);
  }, std::chrono::seconds(20));
  if (!up) throw std::runtime_error("instance did not answer; log:\n" + process_->log());
}

httplib::Client Instance::client(const char* user, const char* password) const {
  httplib::Client c("127.0.0.1", port_);
  c.set_basic_auth(user, password);
  c.set_read_timeout(10, 0);
  return c;
}

int Instance::delivered(int workflow) const {
  auto res = client().Get("/actuator/workflows/" + std::to_string(workflow));
  if (!res || res->status != 200) return -1;
  const auto j = nlohmann::json::parse(res->body, nullptr, /*allow_exceptions=*/false);
  return j.contains("messages") ? j["messages"]["delivered"].get<int>() : -1;
}

httplib::Client Instance::anonymous_client() const {
  httplib::Client c("127.0.0.1", port_);
  c.set_read_timeout(10, 0);
  c.set_connection_timeout(1, 0);
  return c;
}

}  // namespace mi::integration

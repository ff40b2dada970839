#include "management/http_server.h"

#include <httplib.h>

#include <stdexcept>

#include "common/logging.h"

namespace mi::management {
namespace {

constexpr size_t kWorkerThreads = 8;
constexpr time_t kReadTimeoutSeconds = 5;
constexpr time_t kWriteTimeoutSeconds = 5;
constexpr time_t kKeepAliveSeconds = 2;
constexpr size_t kKeepAliveMaxRequests = 100;

HttpRequest to_request(const httplib::Request& req) {
  HttpRequest out;
  out.method = req.method;
  out.path = req.path;
  out.body = req.body;
  for (const auto& [name, value] : req.headers) {
    std::string lower = name;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers.emplace(lower, value);
  }
  return out;
}

void write_response(const HttpResponse& in, httplib::Response& res) {
  res.status = in.status;
  for (const auto& [name, value] : in.headers) res.set_header(name, value);
  res.set_content(in.body, in.content_type);
}

}  // namespace

HttpServer::HttpServer(const ManagementApi& api) : api_(api), server_(std::make_unique<httplib::Server>()) {
  auto& s = *server_;
  s.new_task_queue = [] { return new httplib::ThreadPool(kWorkerThreads); };
  s.set_read_timeout(kReadTimeoutSeconds, 0);
  s.set_write_timeout(kWriteTimeoutSeconds, 0);
  s.set_keep_alive_timeout(kKeepAliveSeconds);
  s.set_keep_alive_max_count(kKeepAliveMaxRequests);
  s.set_payload_max_length(kMaxRequestBody);
  // A response goes out in two writes (head, body); with Nagle's algorithm on, the second
  // waits for the client's delayed ACK (about 40 ms), which capped the API at ~180 req/s
  // (scripts/bench-footprint.sh).
  s.set_tcp_nodelay(true);
  // The library's default also sets SO_REUSEPORT, which would let a second instance share
  // the port silently; keep only SO_REUSEADDR so a restart can bind at once.
  s.set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });

  const auto handler = [this](const httplib::Request& req, httplib::Response& res) {
    write_response(api_.handle(to_request(req)), res);
  };
  const std::string any = ".*";
  s.Get(any, handler);
  s.Post(any, handler);
  s.Put(any, handler);
  s.Patch(any, handler);
  s.Delete(any, handler);
  s.Options(any, handler);
  // Errors raised by the library itself (413, 400 for unparsable requests) get the same
  // JSON error body as ours.
  s.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    const std::string message = res.status == 413
                                    ? "request body larger than " + std::to_string(kMaxRequestBody) + " bytes"
                                    : "malformed request";
    write_response(api_.error(res.status, message, req.path), res);
  });
  s.set_exception_handler([this](const httplib::Request& req, httplib::Response& res, std::exception_ptr) {
    write_response(api_.error(500, "internal error", req.path), res);
  });
}

HttpServer::~HttpServer() { stop(); }

int HttpServer::start(const std::string& address, int port) {
  int bound = port;
  if (port == 0) {
    bound = server_->bind_to_any_port(address);
  } else if (!server_->bind_to_port(address, port)) {
    bound = -1;
  }
  if (bound <= 0) {
    throw std::runtime_error("cannot listen on " + address + ":" + std::to_string(port) +
                             " (server.address / server.port): address in use or not local");
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  logger("management")->info("management API listening on http://{}:{}/actuator", address, bound);
  return bound;
}

void HttpServer::stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace mi::management

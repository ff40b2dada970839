#pragma once
// Serves a ManagementApi over HTTP/1.1 (and HTTPS) with Boost.Beast: one event-driven I/O
// thread holds every connection, so slow or idle clients cost a socket and a buffer, never a
// thread; the API's handlers run on a small pool of their own, so a slow handler (stopping a
// workflow) never delays the I/O of others. Limits below bound what one client can take.
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "management/management_api.h"

namespace mi::management {

struct HttpServerLimits {
  // Open connections in all, and from one client address. A new connection over either
  // limit evicts the connection (of that address, or any) that has waited longest for its
  // next request; if every one is busy with a request, the new one is closed at once.
  std::size_t max_connections = 512;
  std::size_t max_connections_per_address = 128;
  std::size_t max_header_bytes = 8 * 1024;  // request line and headers: 431 past it
  std::size_t max_header_count = 100;       // 431 past it
  std::size_t max_body_bytes = kMaxRequestBody;  // 413, checked before the body is read (chunked too)
  // Per phase: waiting for a request's first byte (a kept-alive connection; a new one gets
  // header_timeout), then its headers, then its body, then writing the response.
  std::chrono::milliseconds idle_timeout{2000};
  std::chrono::milliseconds header_timeout{5000};
  std::chrono::milliseconds body_timeout{5000};
  std::chrono::milliseconds write_timeout{5000};
  std::size_t handler_threads = 4;
  std::size_t max_requests_per_connection = 1000;
};

// HTTPS: PEM files as Spring Boot names them (server.ssl.*). TLS 1.2 and newer only.
struct HttpsSettings {
  std::string certificate;              // server.ssl.certificate (chain, leaf first)
  std::string certificate_private_key;  // server.ssl.certificate-private-key
  std::string trust_certificate;        // server.ssl.trust-certificate: CAs of client certificates
  enum class ClientAuth { kNone, kWant, kNeed } client_auth = ClientAuth::kNone;
};

class HttpServer {
 public:
  // Throws std::runtime_error with an operator's message if the HTTPS files are missing,
  // unreadable or do not belong together.
  explicit HttpServer(const ManagementApi& api, HttpServerLimits limits = {},
                      std::optional<HttpsSettings> https = std::nullopt);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts serving in the background; returns the bound port (useful with 0).
  // Throws std::runtime_error if the address cannot be bound.
  int start(const std::string& address, int port);
  // Closes every connection at once (no waiting for clients) and joins the threads.
  void stop();

  struct Impl;  // public only so that the connections in http_server.cc can name it

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace mi::management

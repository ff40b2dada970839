#pragma once
// Serves a ManagementApi over HTTP with cpp-httplib: a fixed pool of worker threads, read
// and write timeouts and a body size limit, so slow or idle clients cannot starve others.
#include <memory>
#include <string>
#include <thread>

#include "management/management_api.h"

namespace httplib {
class Server;
}

namespace mi::management {

class HttpServer {
 public:
  explicit HttpServer(const ManagementApi& api);
  ~HttpServer();

  // Binds and starts serving in the background; returns the bound port (useful with 0).
  // Throws std::runtime_error if the address cannot be bound.
  int start(const std::string& address, int port);
  void stop();

 private:
  const ManagementApi& api_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace mi::management

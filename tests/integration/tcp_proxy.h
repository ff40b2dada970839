#pragma once
// A TCP proxy on 127.0.0.1 that can stop forwarding without closing anything: a silent
// network cut between one instance and the broker, as a dead link or firewall would make.
#include <atomic>
#include <thread>
#include <vector>

namespace mi::integration {

class TcpProxy {
 public:
  explicit TcpProxy(int target_port);
  ~TcpProxy();
  int port() const { return port_; }
  void cut() { cut_ = true; }
  void heal() { cut_ = false; }

 private:
  void run();
  int listen_fd_ = -1;
  int port_ = 0;
  int target_port_;
  std::atomic<bool> cut_{false};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace mi::integration

#pragma once
// A TCP proxy on 127.0.0.1 that can stop forwarding without closing anything: a silent
// network cut between one instance and the broker, as a dead link or firewall would make.
// Bytes sent during the cut are held and forwarded when it heals, as TCP would retransmit
// them, unless their sender reset the connection meanwhile (then they are dropped, as a
// reset drops the sender's send queue).
#include <atomic>
#include <thread>
#include <vector>

namespace mi::integration {

class TcpProxy {
 public:
  explicit TcpProxy(int target_port);
  ~TcpProxy();
  int port() const { return port_; }
  // Returns once the cut is in effect: nothing is forwarded after it returns.
  void cut();
  void heal() { cut_ = false; }

 private:
  void run();
  int listen_fd_ = -1;
  int port_ = 0;
  int target_port_;
  std::atomic<bool> cut_{false};
  std::atomic<bool> cut_applied_{false};  // the proxy thread's round began with cut_ set
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace mi::integration

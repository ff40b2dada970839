#pragma once
// A broker that is not one: a TCP server on 127.0.0.1 that answers every connection with one
// hostile behaviour, for what a compromised or broken broker, or something else listening on
// its port, may send. Each connection is answered in turn on the server's own thread.
#include <atomic>
#include <string>
#include <thread>

namespace mi::integration {

class HostileServer {
 public:
  enum class Behaviour {
    kAcceptAndClose,  // closes each connection at once
    kGarbage,         // reads the client's first bytes, sends 64 KiB of random bytes, closes
    kHugeFrame,       // sends `frame_start`, which announces a frame of gigabytes, then
                      // streams filler for as long as the client reads it (up to 512 MiB)
    kSlowDrip,        // sends `frame_start`, then filler, one byte every 200 ms, for as long
                      // as the client stays: a frame that never completes
  };
  // `frame_start`: the bytes the client accepts as the start of the protocol, then the header
  // of a frame or packet (kHugeFrame: an enormous one; kSlowDrip: one of a plausible size).
  explicit HostileServer(Behaviour behaviour, std::string frame_start = "");
  ~HostileServer();
  HostileServer(const HostileServer&) = delete;
  HostileServer& operator=(const HostileServer&) = delete;

  int port() const { return port_; }
  int connections() const { return connections_; }
  // Bytes of filler the clients took (kHugeFrame): what a client that buffers them holds.
  long long filler_sent() const { return filler_sent_; }

 private:
  void run();
  void answer(int fd);

  const Behaviour behaviour_;
  const std::string frame_start_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<int> connections_{0};
  std::atomic<long long> filler_sent_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace mi::integration

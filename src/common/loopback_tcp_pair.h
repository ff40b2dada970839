#pragma once
// For tests and benchmarks: a connected TCP pair on 127.0.0.1. The fenced write needs real
// TCP (TCP_CORK, resets), which a socketpair does not have.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace mi::testing {

struct LoopbackTcpPair {
  int sender = -1, receiver = -1;  // -1 once a user closed or handed one over

  LoopbackTcpPair() {
    const int listener = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(listener, reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(listener, 1) != 0 ||
        getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      close(listener);
      throw std::runtime_error("cannot listen on loopback");
    }
    sender = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(sender, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
      close(listener);
      throw std::runtime_error("cannot connect on loopback");
    }
    receiver = accept(listener, nullptr, nullptr);
    close(listener);
  }
  ~LoopbackTcpPair() {
    if (sender >= 0) close(sender);
    if (receiver >= 0) close(receiver);
  }
  LoopbackTcpPair(const LoopbackTcpPair&) = delete;
  LoopbackTcpPair& operator=(const LoopbackTcpPair&) = delete;
};

}  // namespace mi::testing

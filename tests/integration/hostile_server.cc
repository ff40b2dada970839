#include "hostile_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <random>
#include <stdexcept>
#include <vector>

namespace mi::integration {
namespace {

constexpr long long kMaxFiller = 512LL << 20;
constexpr int kStalledMs = 2000;  // a client that reads nothing this long has given up

// Waits for `events` on `fd` up to `timeout_ms`; false on timeout or error.
bool wait_for(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  return ::poll(&p, 1, timeout_ms) == 1 && (p.revents & events) != 0;
}

// Sends all of `bytes` unless the client stops reading or goes away; false then.
bool send_all(int fd, const char* bytes, std::size_t size) {
  while (size > 0) {
    if (!wait_for(fd, POLLOUT, kStalledMs)) return false;
    const ssize_t n = ::send(fd, bytes, size, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n <= 0) return false;
    bytes += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

HostileServer::HostileServer(Behaviour behaviour, std::string frame_start)
    : behaviour_(behaviour), frame_start_(std::move(frame_start)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 16) != 0) {
    throw std::runtime_error("HostileServer: cannot listen on 127.0.0.1");
  }
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { run(); });
}

HostileServer::~HostileServer() {
  stop_ = true;
  thread_.join();
  ::close(listen_fd_);
}

void HostileServer::run() {
  while (!stop_) {
    if (!wait_for(listen_fd_, POLLIN, 100)) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    ++connections_;
    answer(fd);
    ::close(fd);
  }
}

void HostileServer::answer(int fd) {
  if (behaviour_ == Behaviour::kAcceptAndClose) return;
  // What the client says first (its protocol header, CONNECT): read and ignored.
  char hello[4096];
  if (wait_for(fd, POLLIN, 1000)) (void)::recv(fd, hello, sizeof hello, MSG_DONTWAIT);
  if (behaviour_ == Behaviour::kGarbage) {
    std::mt19937 random(static_cast<unsigned>(connections_));
    std::vector<char> garbage(64 * 1024);
    for (auto& c : garbage) c = static_cast<char>(random());
    send_all(fd, garbage.data(), garbage.size());
    return;
  }
  if (behaviour_ == Behaviour::kSlowDrip) {
    // A byte at a time; once the client has closed, the second send after it fails.
    for (std::size_t i = 0; !stop_; ++i) {
      const char byte = i < frame_start_.size() ? frame_start_[i] : 'x';
      if (!send_all(fd, &byte, 1)) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return;
  }
  if (!send_all(fd, frame_start_.data(), frame_start_.size())) return;
  const std::vector<char> filler(1 << 20, 'x');
  while (!stop_ && filler_sent_ < kMaxFiller) {
    if (!send_all(fd, filler.data(), filler.size())) return;
    filler_sent_ += static_cast<long long>(filler.size());
  }
}

}  // namespace mi::integration

#include "tcp_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <utility>

namespace mi::integration {
namespace {

// Every socket is close-on-exec: a child the test starts meanwhile (rabbitmqctl, an
// instance) must not keep a link open after the proxy closed it.
int connect_to(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// True if the peer reset the connection (or another error is pending) on `fd`.
bool was_reset(int fd) {
  int error = 0;
  socklen_t len = sizeof error;
  return getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) == 0 && error != 0;
}

}  // namespace

TcpProxy::TcpProxy(int target_port) : target_port_(target_port) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  listen(listen_fd_, 16);
  thread_ = std::thread([this] { run(); });
}

TcpProxy::~TcpProxy() {
  stop_ = true;
  thread_.join();
  close(listen_fd_);
}

void TcpProxy::cut() {
  cut_ = true;
  while (!cut_applied_ && !stop_) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void TcpProxy::run() {
  std::vector<std::pair<int, int>> links;  // client fd, broker fd; -1 once closed
  bool was_cut = false;
  while (!stop_) {
    const bool cut = cut_;  // one reading per round: a round that starts cut moves nothing
    cut_applied_ = cut;
    if (was_cut && !cut) {
      // Healed. What a side sent during the cut waits unread in the proxy's sockets; on a
      // real link it would still be in the sender's send queue, to be retransmitted now.
      // A sender that reset its connection meanwhile dropped that queue, so those bytes
      // must not arrive: close such a link without forwarding anything.
      for (auto& link : links) {
        if (link.first < 0 || (!was_reset(link.first) && !was_reset(link.second))) continue;
        close(link.first);
        close(link.second);
        link = {-1, -1};
      }
    }
    was_cut = cut;
    std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
    std::vector<size_t> owner{0};  // link index of each polled fd
    if (!cut) {
      for (size_t i = 0; i < links.size(); ++i) {
        if (links[i].first < 0) continue;
        fds.push_back({links[i].first, POLLIN, 0});
        fds.push_back({links[i].second, POLLIN, 0});
        owner.push_back(i);
        owner.push_back(i);
      }
    }
    if (poll(fds.data(), fds.size(), 20) <= 0) continue;
    if (fds[0].revents & POLLIN) {
      const int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      const int upstream = client >= 0 ? connect_to(target_port_) : -1;
      if (upstream >= 0) {
        links.emplace_back(client, upstream);
      } else if (client >= 0) {
        close(client);
      }
    }
    if (cut) continue;  // keep the sockets open, move nothing: a silent cut
    for (size_t i = 1; i < fds.size(); ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      auto& link = links[owner[i]];
      if (link.first < 0) continue;
      const int from = fds[i].fd;
      const int to = from == link.first ? link.second : link.first;
      char buf[16384];
      const ssize_t n = read(from, buf, sizeof buf);
      if (n <= 0) {  // one side closed: close the whole link, as a real network path would
        close(link.first);
        close(link.second);
        link = {-1, -1};
        continue;
      }
      for (ssize_t sent = 0; sent < n;) {
        const ssize_t w = write(to, buf + sent, static_cast<size_t>(n - sent));
        if (w <= 0) break;
        sent += w;
      }
    }
  }
  for (auto [a, b] : links) {
    if (a >= 0) close(a);
    if (b >= 0) close(b);
  }
}

}  // namespace mi::integration

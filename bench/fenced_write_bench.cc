// What the outputs' fenced write (common/fenced_write.h) costs per message in active_standby:
// a 1 KiB send over loopback TCP, plain and through write_while_gate_open with a gate that
// can close (cork, send, check, uncork). A thread on the other end drains the bytes.
#include <benchmark/benchmark.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>
#include <string>
#include <thread>

#include "common/fenced_write.h"

namespace {

class LoopbackSink {
 public:
  LoopbackSink() {
    const int listener = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(listener, reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(listener, 1) != 0 ||
        getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("cannot listen on loopback");
    }
    sender_ = socket(AF_INET, SOCK_STREAM, 0);
    const int on = 1;  // as rabbitmq-c and our MQTT client do
    setsockopt(sender_, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    if (connect(sender_, reinterpret_cast<sockaddr*>(&addr), len) != 0) throw std::runtime_error("cannot connect");
    const int receiver = accept(listener, nullptr, nullptr);
    close(listener);
    drain_ = std::thread([receiver] {
      char buf[65536];
      while (recv(receiver, buf, sizeof buf, 0) > 0) {
      }
      close(receiver);
    });
  }
  ~LoopbackSink() {
    close(sender_);
    drain_.join();
  }
  void send_all(const std::string& bytes) const {
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = send(sender_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send failed");
      done += static_cast<size_t>(n);
    }
  }
  int fd() const { return sender_; }

 private:
  int sender_ = -1;
  std::thread drain_;
};

const std::string kMessage(1024, 'm');

void PlainSend(benchmark::State& state) {
  LoopbackSink sink;
  for (auto _ : state) sink.send_all(kMessage);
}

void FencedSend(benchmark::State& state) {
  LoopbackSink sink;
  mi::FencingGate lease;
  lease.open_until(std::chrono::steady_clock::now() + std::chrono::hours(1), 1);
  for (auto _ : state) {
    if (!mi::write_while_gate_open(sink.fd(), &lease, [&] { sink.send_all(kMessage); })) {
      state.SkipWithError("the gate closed");
    }
  }
}

BENCHMARK(PlainSend);
BENCHMARK(FencedSend);

}  // namespace

BENCHMARK_MAIN();

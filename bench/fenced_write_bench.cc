// What the outputs' fenced write (common/fenced_write.h) costs per message in active_standby:
// a 1 KiB send over loopback TCP, plain and through write_while_gate_open with a gate that
// can close (cork, send, check, uncork). A thread on the other end drains the bytes.
#include <benchmark/benchmark.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <stdexcept>
#include <string>
#include <thread>

#include "common/fenced_write.h"
#include "common/loopback_tcp_pair.h"

namespace {

// Our end of a loopback pair; a thread on the other end drains what arrives.
class LoopbackSink {
 public:
  LoopbackSink() {
    const int on = 1;  // as rabbitmq-c and our MQTT client do
    setsockopt(pair_.sender, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    drain_ = std::thread([receiver = pair_.receiver] {
      char buf[65536];
      while (recv(receiver, buf, sizeof buf, 0) > 0) {
      }
    });
  }
  ~LoopbackSink() {
    shutdown(pair_.sender, SHUT_WR);  // the drain thread sees the end and returns
    drain_.join();
  }
  void send_all(const std::string& bytes) const {
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = send(pair_.sender, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send failed");
      done += static_cast<size_t>(n);
    }
  }
  int fd() const { return pair_.sender; }

 private:
  mi::testing::LoopbackTcpPair pair_;
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

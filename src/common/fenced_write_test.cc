// write_while_gate_open on a real loopback TCP connection: what the peer receives (or not)
// is what the fencing argument in fenced_write.h rests on.
#include "common/fenced_write.h"

#include <gtest/gtest.h>

#include <netinet/tcp.h>
#include <poll.h>

#include <cerrno>
#include <stdexcept>
#include <string>

#include "common/loopback_tcp_pair.h"

namespace mi {
namespace {

using namespace std::chrono_literals;

// A loopback pair with what the tests look at on each end.
struct TcpPair : mi::testing::LoopbackTcpPair {
  void send_text(const std::string& text) const {
    ASSERT_EQ(send(sender, text.data(), text.size(), MSG_NOSIGNAL), static_cast<ssize_t>(text.size()));
  }
  // What has arrived within `wait`; "<reset>" if the connection was reset.
  std::string received(std::chrono::milliseconds wait) const {
    pollfd p{receiver, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(wait.count())) <= 0) return "";
    char buf[256];
    const ssize_t n = recv(receiver, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0) return errno == ECONNRESET ? "<reset>" : "<error>";
    return std::string(buf, static_cast<size_t>(n));
  }
  bool corked() const {
    int value = 0;
    socklen_t len = sizeof value;
    getsockopt(sender, IPPROTO_TCP, TCP_CORK, &value, &len);
    return value != 0;
  }
  void reset() {
    const linger now{1, 0};
    setsockopt(sender, SOL_SOCKET, SO_LINGER, &now, sizeof now);
    close(sender);
    sender = -1;
  }
};

FencingGate open_gate() {
  FencingGate gate;
  gate.open_until(std::chrono::steady_clock::now() + 1h, 7);
  return gate;
}

TEST(FencedWrite, WhileTheGateStaysOpenTheBytesGoOut) {
  TcpPair tcp;
  const FencingGate gate = open_gate();
  bool corked_while_writing = false;
  EXPECT_TRUE(write_while_gate_open(tcp.sender, &gate, [&] {
    corked_while_writing = tcp.corked();
    tcp.send_text("m1");
  }));
  EXPECT_TRUE(corked_while_writing);
  EXPECT_FALSE(tcp.corked());
  EXPECT_EQ(tcp.received(2s), "m1");
}

TEST(FencedWrite, WhenTheGateClosesDuringTheWriteAResetDropsTheHeldBytes) {
  // The lease runs out between the caller's gate check and the end of the write (here the
  // write closes the gate itself, as if the process had been frozen in between).
  TcpPair tcp;
  FencingGate gate = open_gate();
  EXPECT_FALSE(write_while_gate_open(tcp.sender, &gate, [&] {
    tcp.send_text("late");
    gate.close();
  }));
  EXPECT_TRUE(tcp.corked());
  tcp.reset();
  EXPECT_EQ(tcp.received(2s), "<reset>");  // and never "late"
}

TEST(FencedWrite, AGateThatNeverClosesDoesNotCork) {
  TcpPair tcp;
  const FencingGate standalone = FencingGate::always_open();
  bool corked_while_writing = true;
  EXPECT_TRUE(write_while_gate_open(tcp.sender, &standalone, [&] {
    corked_while_writing = tcp.corked();
    tcp.send_text("m1");
  }));
  EXPECT_FALSE(corked_while_writing);
  EXPECT_EQ(tcp.received(2s), "m1");
  corked_while_writing = true;
  EXPECT_TRUE(write_while_gate_open(tcp.sender, nullptr, [&] {  // no fence at all
    corked_while_writing = tcp.corked();
    tcp.send_text("m2");
  }));
  EXPECT_FALSE(corked_while_writing);
  EXPECT_EQ(tcp.received(2s), "m2");
}

TEST(FencedWrite, AFailedWriteLeavesTheSocketUncorked) {
  TcpPair tcp;
  const FencingGate gate = open_gate();
  EXPECT_THROW(write_while_gate_open(tcp.sender, &gate, [] { throw std::runtime_error("broken pipe"); }),
               std::runtime_error);
  EXPECT_FALSE(tcp.corked());
}

TEST(FencedWrite, TheKernelSendsHeldBytesByItselfWithinHalfAHeartbeat) {
  // A process frozen after its second gate check but before the uncork: the kernel must send
  // the bytes while the lease could not yet have been followed by another term (>= 500 ms
  // after the lease ends with the minimum 1 s heartbeat). Linux holds corked bytes for
  // about 200 ms.
  TcpPair tcp;
  const int on = 1;
  setsockopt(tcp.sender, IPPROTO_TCP, TCP_CORK, &on, sizeof on);
  const auto written = std::chrono::steady_clock::now();
  tcp.send_text("held");
  EXPECT_EQ(tcp.received(2s), "held");
  const auto held = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - written);
  std::printf("corked bytes left after %lld ms\n", static_cast<long long>(held.count()));
  EXPECT_LT(held, 500ms);
}

}  // namespace
}  // namespace mi

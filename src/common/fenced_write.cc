#include "common/fenced_write.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace mi {

namespace {

void set_cork(int fd, bool on) {
  const int value = on ? 1 : 0;
  // Not a TCP socket (a test's socketpair): nothing to hold back, nothing to do.
  setsockopt(fd, IPPROTO_TCP, TCP_CORK, &value, sizeof value);
}

}  // namespace

bool write_while_gate_open(int fd, const FencingGate& fence, const std::function<void()>& write) {
  if (!fence.may_close()) {  // standalone: spare the two system calls
    write();
    return true;
  }
  set_cork(fd, true);
  try {
    write();
  } catch (...) {
    set_cork(fd, false);
    throw;
  }
  if (!fence.allows(std::chrono::steady_clock::now())) return false;
  set_cork(fd, false);
  return true;
}

}  // namespace mi

#pragma once
// Writing a message to a socket only while the fencing gate is open, without the gap a
// paused process slips through.
//
// Asking the gate right before a write leaves a gap: a process frozen (SIGSTOP, a paused VM)
// between the question and the write system call writes on resuming, after its lease ran
// out and perhaps after the next term's messages. A sender cannot notice a freeze before it
// writes, so the write is held back instead: the socket is corked (TCP_CORK) for the write
// and the gate asked again after it.
//  - Still open: the socket is uncorked and the bytes go out. Should a freeze come between
//    that second question and the uncork, the kernel sends the held bytes by itself about
//    200 ms after they were written (TCP_CORK's ceiling; fenced_write_test checks it stays
//    under 500 ms), and they were written before the lease ran out. The broker promotes
//    another instance no earlier than half a heartbeat (>= 500 ms) after the lease ends.
//  - Closed: the caller resets the connection at once (SO_LINGER 0), which drops the held
//    bytes unsent. Of a message longer than a TCP segment the first full segments may have
//    left, but never its end, so the broker never takes it.
#include "common/fencing_gate.h"

namespace mi {

void set_tcp_cork(int fd, bool on);

// Runs `write` with `fd` corked. True if `fence` still allows sending once `write` returned:
// the bytes are released. False if not: they are still held, and the caller must reset the
// connection before doing anything else. If `write` throws, the socket is uncorked and the
// exception passes on. Without a fence (null), or with one that never closes (standalone),
// it just writes. A template, not std::function: it runs once per message.
template <class Write>
bool write_while_gate_open(int fd, const FencingGate* fence, Write&& write) {
  if (!fence || !fence->may_close()) {
    write();
    return true;
  }
  set_tcp_cork(fd, true);
  try {
    write();
  } catch (...) {
    set_tcp_cork(fd, false);
    throw;
  }
  if (!fence->allows()) return false;
  set_tcp_cork(fd, false);
  return true;
}

}  // namespace mi

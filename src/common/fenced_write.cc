#include "common/fenced_write.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace mi {

void set_tcp_cork(int fd, bool on) {
  const int value = on ? 1 : 0;
  // Not a TCP socket (a test's socketpair): nothing to hold back, nothing to do.
  setsockopt(fd, IPPROTO_TCP, TCP_CORK, &value, sizeof value);
}

}  // namespace mi

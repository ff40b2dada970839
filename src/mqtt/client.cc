#include "mqtt/client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "common/fenced_write.h"
#include "common/printable.h"

namespace mi::mqtt {
namespace {


std::atomic<std::uint64_t> g_connection_serial{0};

int millis_until(SteadyTime deadline) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - SystemClock::instance().now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 24LL * 3600 * 1000));
}

std::string errno_text(int err) { return std::strerror(err); }

// The most recent OpenSSL error, or `fallback`.
std::string openssl_error(const std::string& fallback) {
  const unsigned long e = ERR_get_error();
  if (e == 0) return fallback;
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

bool is_ip_literal(const std::string& host) {
  in6_addr addr{};
  return inet_pton(AF_INET, host.c_str(), &addr) == 1 || inet_pton(AF_INET6, host.c_str(), &addr) == 1;
}

// OpenSSL writes to the socket with write(), which raises SIGPIPE on a closed connection. Keep a
// SIGPIPE caused by this thread's TLS calls from killing the process, without touching the
// process-wide disposition.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeGuard() {
    if (!was_pending_) {
      const timespec zero{};
      while (sigtimedwait(&pipe_, nullptr, &zero) > 0) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t pipe_{};
  sigset_t old_{};
  bool was_pending_ = false;
};

// Waits for `events` on `fd` until `deadline`; false on timeout.
bool wait_fd(int fd, short events, SteadyTime deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int r = ::poll(&p, 1, millis_until(deadline));
    if (r > 0) return true;
    if (r == 0) return false;
    if (errno != EINTR) return true;  // let the following read/write report the error
  }
}

std::string with_reason_string(std::string message, const Properties& properties) {
  if (properties.reason_string && !properties.reason_string->empty()) {
    message += " (" + printable(*properties.reason_string) + ")";
  }
  return message;
}

std::string hex(std::uint8_t code) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", static_cast<unsigned>(code));
  return buf;
}

}  // namespace

Client::Client(ClientOptions options)
    : options_(std::move(options)), connection_serial_(++g_connection_serial), client_id_(options_.client_id) {
  try {
    const auto deadline = SystemClock::instance().now() + options_.io_timeout;
    open_socket();
    if (options_.tls) tls_handshake(deadline);

    Connect connect;
    connect.client_id = options_.client_id;
    if (!options_.username.empty()) connect.username = options_.username;
    if (!options_.password.empty()) connect.password = options_.password;
    connect.clean_start = options_.clean_start;
    connect.keep_alive_seconds = options_.keep_alive_seconds;
    if (options_.session_expiry_seconds != 0) connect.properties.session_expiry_interval = options_.session_expiry_seconds;
    connect.properties.receive_maximum = std::max<std::uint16_t>(options_.receive_maximum, 1);
    connect.properties.maximum_packet_size = std::max<std::uint32_t>(options_.max_packet_size, 64);
    if (options_.topic_alias_maximum != 0) connect.properties.topic_alias_maximum = options_.topic_alias_maximum;
    send_packet(connect);

    std::optional<Packet> reply;
    while (!(reply = next_buffered_packet())) {
      if (!read_some(deadline)) {
        fail(MqttError(0, "no CONNACK from MQTT broker " + options_.host + ":" + std::to_string(options_.port) +
                              " within " + std::to_string(options_.io_timeout.count()) + " ms"));
      }
    }
    const auto* connack = std::get_if<Connack>(&*reply);
    if (!connack) fail(MqttError(reason::kProtocolError, "MQTT broker answered CONNECT with something other than CONNACK"));
    if (connack->reason_code >= 0x80) {
      std::string who = "client '" + options_.client_id + "'";
      if (!options_.username.empty()) who += " as user '" + options_.username + "'";
      fail(MqttError(connack->reason_code,
                     with_reason_string("MQTT broker " + options_.host + ":" + std::to_string(options_.port) +
                                            " refused the connection of " + who + ": " +
                                            reason_code_name(connack->reason_code) + " (" + hex(connack->reason_code) + ")",
                                        connack->properties)));
    }
    const Properties& p = connack->properties;
    session_present_ = connack->session_present;
    if (p.assigned_client_identifier) client_id_ = *p.assigned_client_identifier;
    keep_alive_seconds_ = p.server_keep_alive.value_or(options_.keep_alive_seconds);
    server_receive_maximum_ = p.receive_maximum.value_or(65535);
    if (p.maximum_packet_size) server_max_packet_size_ = *p.maximum_packet_size;
    server_maximum_qos_ = p.maximum_qos.value_or(2);
    shared_subscriptions_available_ = p.shared_subscription_available.value_or(1) != 0;
  } catch (...) {
    close_socket();
    throw;
  }
}

Client::~Client() { close_socket(); }

void Client::open_socket() {
  const std::string where = options_.host + ":" + std::to_string(options_.port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* addresses = nullptr;
  const int rc = getaddrinfo(options_.host.c_str(), std::to_string(options_.port).c_str(), &hints, &addresses);
  if (rc != 0) throw MqttError(0, "cannot resolve MQTT broker host " + options_.host + ": " + gai_strerror(rc));
  std::string last_error = "no address";
  const auto deadline = SystemClock::instance().now() + options_.io_timeout;
  for (addrinfo* a = addresses; a && fd_ < 0; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      last_error = errno_text(errno);
      continue;
    }
    int err = 0;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      err = errno;
      if (err == EINPROGRESS) {
        if (!wait_fd(fd, POLLOUT, deadline)) {
          err = ETIMEDOUT;
        } else {
          socklen_t len = sizeof err;
          if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
        }
      }
    }
    if (err != 0) {
      last_error = errno_text(err);
      ::close(fd);
      continue;
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fd_ = fd;
  }
  freeaddrinfo(addresses);
  if (fd_ < 0) throw MqttError(0, "cannot connect to MQTT broker " + where + ": " + last_error);
}

void Client::tls_handshake(SteadyTime deadline) {
  const std::string where = options_.host + ":" + std::to_string(options_.port);
  ERR_clear_error();
  ssl_ctx_ = SSL_CTX_new(TLS_client_method());
  if (!ssl_ctx_) throw MqttError(0, "cannot create a TLS context: " + openssl_error("out of memory"));
  SSL_CTX_set_min_proto_version(ssl_ctx_, TLS1_2_VERSION);
  if (options_.ca_file.empty()) {
    if (SSL_CTX_set_default_verify_paths(ssl_ctx_) != 1) {
      throw MqttError(0, "cannot load the system CA certificates: " + openssl_error("unknown error"));
    }
  } else if (SSL_CTX_load_verify_locations(ssl_ctx_, options_.ca_file.c_str(), nullptr) != 1) {
    throw MqttError(0, "cannot read CA certificates from " + options_.ca_file + ": " + openssl_error("unknown error"));
  }
  SSL_CTX_set_verify(ssl_ctx_, SSL_VERIFY_PEER, nullptr);
  ssl_ = SSL_new(ssl_ctx_);
  if (!ssl_) throw MqttError(0, "cannot create a TLS connection: " + openssl_error("out of memory"));
  if (is_ip_literal(options_.host)) {
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), options_.host.c_str()) != 1) {
      throw MqttError(0, "cannot set the expected broker address " + options_.host);
    }
  } else {
    // SNI; SSL_set_tlsext_host_name() is a macro with an old-style cast.
    SSL_ctrl(ssl_, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(options_.host.c_str()));
    if (SSL_set1_host(ssl_, options_.host.c_str()) != 1) {
      throw MqttError(0, "cannot set the expected broker host name " + options_.host);
    }
  }
  SSL_set_fd(ssl_, fd_);
  SigpipeGuard guard;
  for (;;) {
    ERR_clear_error();
    const int r = SSL_connect(ssl_);
    if (r == 1) return;
    const int err = SSL_get_error(ssl_, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      if (!wait_fd(fd_, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) {
        throw MqttError(0, "TLS handshake with MQTT broker " + where + " timed out");
      }
      continue;
    }
    std::string why;
    const long verify = SSL_get_verify_result(ssl_);
    if (verify != X509_V_OK) {
      why = std::string("certificate verification failed: ") + X509_verify_cert_error_string(verify);
    } else {
      why = openssl_error(err == SSL_ERROR_SYSCALL ? "connection closed" : "TLS error");
    }
    throw MqttError(0, "TLS handshake with MQTT broker " + where + " failed: " + why);
  }
}

void Client::close_socket(Close how) {
  if (ssl_) SSL_free(ssl_);
  ssl_ = nullptr;
  if (ssl_ctx_) SSL_CTX_free(ssl_ctx_);
  ssl_ctx_ = nullptr;
  if (fd_ >= 0) {
    if (how == Close::kReset) {
      // SO_LINGER with a zero timeout makes close() send a reset and drop the send queue.
      const linger reset{1, 0};
      setsockopt(fd_, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    }
    ::close(fd_);
  }
  fd_ = -1;
}

void Client::fail(const MqttError& error) {
  close_socket();
  closed_reason_ = error.what();
  throw error;
}

void Client::check_open() {
  if (fd_ < 0) {
    throw MqttError(0, "MQTT connection to " + options_.host + ":" + std::to_string(options_.port) + " is closed" +
                           (closed_reason_.empty() ? std::string() : ": " + closed_reason_));
  }
}

void Client::send_packet(const Packet& packet) {
  check_open();
  write_all(encode(packet), SystemClock::instance().now() + options_.io_timeout);
  last_sent_ = SystemClock::instance().now();
}

void Client::write_all(const std::vector<std::uint8_t>& bytes, SteadyTime deadline) {
  const std::string where = options_.host + ":" + std::to_string(options_.port);
  std::size_t done = 0;
  while (done < bytes.size()) {
    short wait_for = POLLOUT;
    if (ssl_) {
      SigpipeGuard guard;
      ERR_clear_error();
      std::size_t written = 0;
      const int r = SSL_write_ex(ssl_, bytes.data() + done, bytes.size() - done, &written);
      if (r == 1) {
        done += written;
        continue;
      }
      const int err = SSL_get_error(ssl_, r);
      if (err == SSL_ERROR_WANT_READ) {
        wait_for = POLLIN;
      } else if (err != SSL_ERROR_WANT_WRITE) {
        fail(MqttError(0, "cannot send to MQTT broker " + where + ": " +
                              openssl_error(err == SSL_ERROR_SYSCALL ? errno_text(errno) : "TLS error")));
      }
    } else {
      const ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n >= 0) {
        done += static_cast<std::size_t>(n);
        continue;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        fail(MqttError(0, "cannot send to MQTT broker " + where + ": " + errno_text(errno)));
      }
    }
    if (!wait_fd(fd_, wait_for, deadline)) {
      fail(MqttError(0, "sending to MQTT broker " + where + " timed out after " +
                            std::to_string(options_.io_timeout.count()) + " ms"));
    }
  }
}

bool Client::read_some(SteadyTime deadline) {
  check_open();
  const std::string where = options_.host + ":" + std::to_string(options_.port);
  std::uint8_t buf[16384];
  for (;;) {
    short wait_for = POLLIN;
    if (ssl_) {
      SigpipeGuard guard;
      ERR_clear_error();
      std::size_t got = 0;
      const int r = SSL_read_ex(ssl_, buf, sizeof buf, &got);
      if (r == 1) {
        in_.insert(in_.end(), buf, buf + got);
        return true;
      }
      const int err = SSL_get_error(ssl_, r);
      if (err == SSL_ERROR_WANT_WRITE) {
        wait_for = POLLOUT;
      } else if (err == SSL_ERROR_ZERO_RETURN) {
        fail(MqttError(0, "MQTT broker " + where + " closed the connection"));
      } else if (err != SSL_ERROR_WANT_READ) {
        const int saved = errno;
        fail(MqttError(0, "MQTT connection to " + where + " lost: " +
                              openssl_error(err == SSL_ERROR_SYSCALL
                                                ? (saved ? errno_text(saved) : std::string("connection closed"))
                                                : "TLS error")));
      }
    } else {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        in_.insert(in_.end(), buf, buf + n);
        return true;
      }
      if (n == 0) fail(MqttError(0, "MQTT broker " + where + " closed the connection"));
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        fail(MqttError(0, "MQTT connection to " + where + " lost: " + errno_text(errno)));
      }
    }
    if (!wait_fd(fd_, wait_for, deadline)) return false;
  }
}

std::optional<Packet> Client::next_buffered_packet() {
  std::optional<FrameHeader> header;
  try {
    header = parse_frame_header(in_, options_.max_packet_size);
    if (!header || in_.size() < header->packet_size()) return std::nullopt;
    const auto size = static_cast<std::ptrdiff_t>(header->packet_size());
    Packet packet = decode_packet(std::span<const std::uint8_t>(in_.data(), header->packet_size()), options_.max_packet_size);
    in_.erase(in_.begin(), in_.begin() + size);
    ping_sent_.reset();  // the broker is alive
    return packet;
  } catch (const MqttError& e) {
    // Tell the broker why before closing (best effort), then report the problem.
    const auto code = static_cast<std::uint8_t>(e.reason_code() >= 0x80 ? e.reason_code() : reason::kMalformedPacket);
    try {
      send_packet(Disconnect{code, {}});
    } catch (const MqttError&) {
    }
    fail(MqttError(e.reason_code(), "from MQTT broker " + options_.host + ":" + std::to_string(options_.port) + ": " +
                                        e.what()));
  }
}

bool Client::pump(SteadyTime deadline) {
  for (;;) {
    if (auto packet = next_buffered_packet()) {
      handle(std::move(*packet));
      return true;
    }
    const auto now = SystemClock::instance().now();
    if (now >= deadline && !read_some(now)) return false;
    auto wake = deadline;
    if (keep_alive_seconds_ > 0) {
      if (!ping_sent_) {
        const auto next_ping = last_sent_ + std::chrono::milliseconds(keep_alive_seconds_ * 500);
        if (now >= next_ping) {
          send_packet(PingReq{});
          ping_sent_ = SystemClock::instance().now();
        } else {
          wake = std::min(wake, next_ping);
        }
      }
      if (ping_sent_) {
        const auto dead_at = *ping_sent_ + options_.io_timeout;
        if (now >= dead_at) {
          fail(MqttError(0, "MQTT broker " + options_.host + ":" + std::to_string(options_.port) +
                                " did not answer PINGREQ within " + std::to_string(options_.io_timeout.count()) +
                                " ms"));
        }
        wake = std::min(wake, dead_at);
      }
    }
    read_some(wake);
  }
}

void Client::handle(Packet packet) {
  const std::string where = options_.host + ":" + std::to_string(options_.port);
  if (auto* publish = std::get_if<Publish>(&packet)) {
    if (publish->qos > 1) {
      fail(MqttError(reason::kQosNotSupported, "MQTT broker " + where + " sent a QoS " + std::to_string(publish->qos) +
                                                   " message; this client subscribes with QoS 0 or 1 only"));
    }
    if (const auto alias = publish->properties.topic_alias) {
      if (*alias > options_.topic_alias_maximum) {
        fail(MqttError(reason::kTopicAliasInvalid, "MQTT broker " + where + " used topic alias " + std::to_string(*alias) +
                                                       " above the maximum of " +
                                                       std::to_string(options_.topic_alias_maximum)));
      }
      if (!publish->topic.empty()) {
        topic_aliases_by_id_[*alias] = publish->topic;
      } else {
        const auto it = topic_aliases_by_id_.find(*alias);
        if (it == topic_aliases_by_id_.end()) {
          fail(MqttError(reason::kProtocolError, "MQTT broker " + where + " used unknown topic alias " +
                                                     std::to_string(*alias)));
        }
        publish->topic = it->second;
      }
    }
    Publication pub;
    pub.topic = std::move(publish->topic);
    pub.payload = std::move(publish->payload);
    pub.qos = publish->qos;
    pub.dup = publish->dup;
    pub.retain = publish->retain;
    pub.packet_id = publish->packet_id;
    pub.content_type = publish->properties.content_type.value_or("");
    pub.correlation_data = publish->properties.correlation_data.value_or("");
    pub.user_properties = std::move(publish->properties.user_properties);
    pub.user_properties_left_out = publish->properties.user_properties_left_out;
    pub.connection = connection_serial_;
    if (pub.qos == 1) unacknowledged_.insert(pub.packet_id);
    received_.push_back(std::move(pub));
  } else if (auto* ack = std::get_if<PubAck>(&packet)) {
    if (ack->type != PacketType::kPuback) {
      fail(MqttError(reason::kProtocolError, "MQTT broker " + where + " sent " + packet_type_name(ack->type) +
                                                 " but this client uses QoS 0 and 1 only"));
    }
    const auto it = in_flight_.find(ack->packet_id);
    if (it == in_flight_.end()) return;  // not ours (any more); harmless
    completed_[ack->packet_id] =
        Completed{std::move(it->second), ack->reason_code, printable(ack->properties.reason_string.value_or(""))};
    in_flight_.erase(it);
  } else if (auto* suback = std::get_if<Suback>(&packet)) {
    subacks_[suback->packet_id] = std::move(*suback);
  } else if (auto* unsuback = std::get_if<Unsuback>(&packet)) {
    unsubacks_[unsuback->packet_id] = std::move(*unsuback);
  } else if (std::holds_alternative<PingResp>(packet)) {
    ping_sent_.reset();
  } else if (auto* disconnect = std::get_if<Disconnect>(&packet)) {
    fail(MqttError(disconnect->reason_code,
                   with_reason_string("MQTT broker " + where + " closed the connection: " +
                                          reason_code_name(disconnect->reason_code) + " (" +
                                          hex(disconnect->reason_code) + ")",
                                      disconnect->properties)));
  } else {
    const char* name = std::visit(
        [](const auto& p) -> const char* {
          using T = std::decay_t<decltype(p)>;
          if constexpr (std::is_same_v<T, Connect>) return "CONNECT";
          else if constexpr (std::is_same_v<T, Connack>) return "CONNACK";
          else if constexpr (std::is_same_v<T, Subscribe>) return "SUBSCRIBE";
          else if constexpr (std::is_same_v<T, Unsubscribe>) return "UNSUBSCRIBE";
          else if constexpr (std::is_same_v<T, PingReq>) return "PINGREQ";
          else if constexpr (std::is_same_v<T, Auth>) return "AUTH";
          else return "an unexpected packet";
        },
        packet);
    try {
      send_packet(Disconnect{reason::kProtocolError, {}});
    } catch (const MqttError&) {
    }
    fail(MqttError(reason::kProtocolError, std::string("MQTT broker ") + where + " sent " + name + " to a client"));
  }
}

std::uint16_t Client::next_packet_id() {
  for (int i = 0; i < 65536; ++i) {
    last_packet_id_ = static_cast<std::uint16_t>(last_packet_id_ == 65535 ? 1 : last_packet_id_ + 1);
    if (!in_flight_.count(last_packet_id_) && !subacks_.count(last_packet_id_) && !unsubacks_.count(last_packet_id_)) {
      completed_.erase(last_packet_id_);  // an old result nobody collected
      return last_packet_id_;
    }
  }
  throw MqttError(0, "no free MQTT packet identifier");
}

template <typename Reply>
Reply Client::await_reply(std::map<std::uint16_t, Reply>& replies, std::uint16_t packet_id, const char* reply_name,
                          const std::string& filter, const std::string& refused) {
  const auto deadline = SystemClock::instance().now() + options_.io_timeout;
  while (!replies.count(packet_id)) {
    if (!pump(deadline)) {
      fail(MqttError(0, std::string("no ") + reply_name + " for '" + filter + "' from MQTT broker " + options_.host +
                            ":" + std::to_string(options_.port) + " within " +
                            std::to_string(options_.io_timeout.count()) + " ms"));
    }
  }
  Reply reply = std::move(replies[packet_id]);
  replies.erase(packet_id);
  const std::uint8_t code = reply.reason_codes.front();
  if (code >= 0x80) {
    throw MqttError(code, with_reason_string("MQTT broker " + refused + ": " + reason_code_name(code) + " (" +
                                                 hex(code) + ")",
                                             reply.properties));
  }
  return reply;
}

void Client::subscribe(const std::string& filter, int qos) {
  check_open();
  if (qos < 0 || qos > 1) throw MqttError(0, "cannot subscribe to '" + filter + "' with QoS " + std::to_string(qos) + ": QoS 0 or 1 only");
  Subscribe s;
  s.packet_id = next_packet_id();
  s.subscriptions.push_back(Subscription{filter, static_cast<std::uint8_t>(qos), false, false, 0});
  send_packet(s);
  await_reply(subacks_, s.packet_id, "SUBACK", filter, "refused the subscription to '" + filter + "'");
}

void Client::unsubscribe(const std::string& filter) {
  check_open();
  Unsubscribe u;
  u.packet_id = next_packet_id();
  u.filters.push_back(filter);
  send_packet(u);
  await_reply(unsubacks_, u.packet_id, "UNSUBACK", filter, "refused to unsubscribe from '" + filter + "'");
}

std::optional<Publication> Client::receive(std::chrono::milliseconds timeout) {
  check_open();
  const auto deadline = SystemClock::instance().now() + timeout;
  while (received_.empty()) {
    if (!pump(deadline)) return std::nullopt;
  }
  Publication pub = std::move(received_.front());
  received_.pop_front();
  return pub;
}

void Client::acknowledge(const Publication& publication) {
  if (publication.qos == 0) return;
  if (publication.connection != connection_serial_) {
    throw std::logic_error("cannot acknowledge a publication received on another MQTT connection (packet id " +
                           std::to_string(publication.packet_id) + "); the broker redelivers it");
  }
  check_open();
  if (!unacknowledged_.erase(publication.packet_id)) {
    throw std::logic_error("MQTT publication with packet id " + std::to_string(publication.packet_id) +
                           " was already acknowledged");
  }
  send_packet(PubAck{PacketType::kPuback, publication.packet_id, reason::kSuccess, {}});
}

std::uint16_t Client::publish(const std::string& topic, const std::string& payload, int qos,
                              const PublishProperties& properties, const FencingGate* fence) {
  check_open();
  if (qos < 0 || qos > 1) throw MqttError(0, "cannot publish to '" + topic + "' with QoS " + std::to_string(qos) + ": QoS 0 or 1 only");
  if (qos > server_maximum_qos_) {
    throw MqttError(reason::kQosNotSupported, "MQTT broker supports QoS " + std::to_string(server_maximum_qos_) +
                                                  " at most; cannot publish to '" + topic + "' with QoS 1");
  }
  Publish p;
  p.topic = topic;
  p.payload = payload;
  p.qos = static_cast<std::uint8_t>(qos);
  p.retain = properties.retain;
  if (!properties.content_type.empty()) p.properties.content_type = properties.content_type;
  if (!properties.correlation_data.empty()) p.properties.correlation_data = properties.correlation_data;
  p.properties.user_properties = properties.user_properties;
  if (qos == 1) {
    // Flow control: no more unacknowledged publishes than the broker's Receive Maximum.
    while (in_flight_.size() >= server_receive_maximum_) {
      if (!pump(SystemClock::instance().now() + options_.io_timeout)) {
        throw MqttError(0, "MQTT broker " + options_.host + ":" + std::to_string(options_.port) + " sent no PUBACK within " +
                               std::to_string(options_.io_timeout.count()) + " ms while " +
                               std::to_string(in_flight_.size()) + " publications were in flight");
      }
    }
    p.packet_id = next_packet_id();
  }
  auto bytes = encode(p);
  if (bytes.size() > server_max_packet_size_) {
    throw MqttError(reason::kPacketTooLarge, "publication to '" + topic + "' of " + std::to_string(bytes.size()) +
                                                 " bytes exceeds the MQTT broker's maximum packet size of " +
                                                 std::to_string(server_max_packet_size_) + " bytes");
  }
  if (qos == 1) in_flight_[p.packet_id] = topic;
  if (!write_while_gate_open(fd_, fence, [&] { write_all(bytes, SystemClock::instance().now() + options_.io_timeout); })) {
    abort();
    throw Fenced(0, "leadership lease ran out while an MQTT publication to '" + topic +
                        "' was being written (the process was paused?)");
  }
  last_sent_ = SystemClock::instance().now();
  return p.packet_id;
}

void Client::wait_for_acks(std::span<const std::uint16_t> ids, std::chrono::milliseconds timeout,
                           const FencingGate* fence) {
  for (const auto id : ids) {
    if (id != 0 && !in_flight_.count(id) && !completed_.count(id)) {
      throw std::logic_error("no MQTT publication with packet id " + std::to_string(id) + " is awaiting its PUBACK");
    }
  }
  const auto deadline = SystemClock::instance().now() + timeout;
  for (;;) {
    const auto missing = static_cast<std::size_t>(
        std::count_if(ids.begin(), ids.end(), [&](std::uint16_t id) { return id != 0 && in_flight_.count(id); }));
    if (missing == 0) break;
    check_open();
    if (fence && !fence->allows()) {
      throw Fenced(0, "leadership lease ran out with " + std::to_string(missing) +
                              " MQTT publications unacknowledged");
    }
    // Wake up when the lease would end, to see whether it was extended meanwhile.
    const auto wake = fence ? std::min(deadline, fence->valid_until()) : deadline;
    if (!pump(wake) && wake == deadline) {
      throw MqttError(0, std::to_string(missing) + " of " + std::to_string(ids.size()) +
                             " MQTT publications were not acknowledged by the broker within " +
                             std::to_string(timeout.count()) + " ms");
    }
  }
  std::optional<MqttError> first_failure;
  std::size_t failures = 0;
  for (const auto id : ids) {
    const auto it = completed_.find(id);
    if (it == completed_.end()) continue;
    if (it->second.reason >= 0x80) {
      ++failures;
      if (!first_failure) {
        std::string message = "MQTT broker refused the publication to '" + it->second.topic +
                              "': " + reason_code_name(it->second.reason) + " (" + hex(it->second.reason) + ")";
        if (!it->second.reason_string.empty()) message += " (" + it->second.reason_string + ")";
        first_failure.emplace(it->second.reason, message);
      }
    }
    completed_.erase(it);
  }
  if (first_failure) {
    if (failures > 1) {
      throw MqttError(first_failure->reason_code(),
                      std::string(first_failure->what()) + "; " + std::to_string(failures - 1) + " more refused");
    }
    throw *first_failure;
  }
}

void Client::disconnect() {
  if (fd_ < 0) return;
  try {
    send_packet(Disconnect{reason::kSuccess, {}});
    if (ssl_) {
      SigpipeGuard guard;
      SSL_shutdown(ssl_);
    }
  } catch (const MqttError&) {
  }
  close_socket();
  closed_reason_ = "disconnected";
}

void Client::abort() {
  close_socket(Close::kReset);
  closed_reason_ = "connection dropped";
}

}  // namespace mi::mqtt

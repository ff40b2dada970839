#include "management/http_server.h"

// Beast's string_view as std::string_view (this is the only file that includes Beast).
#define BOOST_BEAST_USE_STD_STRING_VIEW
#include <openssl/ssl.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <fstream>
#include <list>
#include <stdexcept>
#include <thread>

#include "common/logging.h"

namespace mi::management {
namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

namespace {

// What a connection is doing; only one waiting for (or reading) a request may be evicted.
enum class Phase { kHandshake, kWaiting, kHeaders, kBody, kHandling, kWriting };

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The path of a request target, without the query and with %XX decoded.
std::string decoded_path(std::string_view target) {
  target = target.substr(0, target.find('?'));
  std::string out;
  out.reserve(target.size());
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] == '%' && i + 2 < target.size() && hex_value(target[i + 1]) >= 0 &&
        hex_value(target[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(target[i + 1]) * 16 + hex_value(target[i + 2])));
      i += 2;
    } else {
      out.push_back(target[i]);
    }
  }
  return out;
}

HttpRequest to_request(const http::request<http::string_body>& in) {
  HttpRequest out;
  out.method = std::string(in.method_string());
  out.path = decoded_path(in.target());
  out.body = in.body();
  for (const auto& field : in) out.headers.emplace(lower(field.name_string()), std::string(field.value()));
  return out;
}

}  // namespace

class ConnectionBase {
 public:
  virtual ~ConnectionBase() = default;
  virtual void close() = 0;
  bool open() const { return !closed_; }
  bool evictable() const { return phase_ == Phase::kHandshake || phase_ == Phase::kWaiting || phase_ == Phase::kHeaders; }
  const std::string& address() const { return address_; }
  SteadyTime waiting_since() const { return waiting_since_; }

 protected:
  std::string address_;
  Phase phase_ = Phase::kHandshake;
  SteadyTime waiting_since_ = SystemClock::instance().now();
  bool closed_ = false;
};

struct HttpServer::Impl {
  Impl(const ManagementApi& served, const HttpServerLimits& bounds)
      : api(served), limits(bounds), handlers(bounds.handler_threads) {}

  void accept();
  void admit(tcp::socket socket);
  // Closes the evictable connection (of `address`, or any when empty) that has waited
  // longest; false if there is none.
  bool evict_one(const std::string& address);

  const ManagementApi& api;
  const HttpServerLimits limits;
  net::io_context ioc{1};
  std::optional<ssl::context> tls;
  tcp::acceptor acceptor{ioc};
  net::steady_timer accept_retry{ioc};
  std::list<std::weak_ptr<ConnectionBase>> connections;  // touched on the I/O thread only
  bool stopping = false;                                  // the I/O thread's view
  net::thread_pool handlers;  // after ioc: destroyed (joined) first
  std::thread io_thread;
};

namespace {

template <class Stream>
class Connection final : public ConnectionBase, public std::enable_shared_from_this<Connection<Stream>> {
 public:
  template <class... Args>
  Connection(HttpServer::Impl& server, std::string address, Args&&... stream_args)
      : server_(server),
        stream_(std::forward<Args>(stream_args)...),
        buffer_(server.limits.max_header_bytes + server.limits.max_body_bytes + 8192) {
    address_ = std::move(address);
  }

  void start() {
    if constexpr (kTls) {
      phase_ = Phase::kHandshake;
      lowest().expires_after(server_.limits.header_timeout);
      stream_.async_handshake(ssl::stream_base::server, [self = this->shared_from_this()](beast::error_code ec) {
        if (ec) return self->close();
        self->wait_for_request(true);
      });
    } else {
      wait_for_request(true);
    }
  }

  void close() override {
    if (closed_) return;
    closed_ = true;
    beast::error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().close();
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  void wait_for_request(bool fresh) {
    if (closed_ || server_.stopping) return close();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_.limits.max_header_bytes));
    parser_->body_limit(server_.limits.max_body_bytes);
    waiting_since_ = SystemClock::instance().now();
    if (buffer_.size() > 0) return read_headers();  // pipelined: the next request is here
    phase_ = Phase::kWaiting;
    lowest().expires_after(fresh ? server_.limits.header_timeout : server_.limits.idle_timeout);
    stream_.async_read_some(buffer_.prepare(4096), [self = this->shared_from_this()](beast::error_code ec, size_t n) {
      if (ec) return self->close();
      self->buffer_.commit(n);
      self->read_headers();
    });
  }

  void read_headers() {
    phase_ = Phase::kHeaders;
    lowest().expires_after(server_.limits.header_timeout);
    http::async_read_header(stream_, buffer_, *parser_, [self = this->shared_from_this()](beast::error_code ec, size_t) {
      self->on_headers(ec);
    });
  }

  void on_headers(beast::error_code ec) {
    if (ec) return fail(ec);
    const auto& request = parser_->get();
    if (static_cast<size_t>(std::distance(request.begin(), request.end())) > server_.limits.max_header_count) {
      return refuse(431, "more than " + std::to_string(server_.limits.max_header_count) + " request headers");
    }
    if (parser_->is_done()) return handle();
    if (lower(request[http::field::expect]) == "100-continue") {
      phase_ = Phase::kBody;
      lowest().expires_after(server_.limits.write_timeout);
      auto interim = std::make_shared<http::response<http::empty_body>>(http::status::continue_, 11);
      http::async_write(stream_, *interim, [self = this->shared_from_this(), interim](beast::error_code e, size_t) {
        if (e) return self->close();
        self->read_body();
      });
      return;
    }
    read_body();
  }

  void read_body() {
    phase_ = Phase::kBody;
    lowest().expires_after(server_.limits.body_timeout);
    http::async_read(stream_, buffer_, *parser_, [self = this->shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->fail(ec);
      self->handle();
    });
  }

  void fail(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      return refuse(413, "request body larger than " + std::to_string(server_.limits.max_body_bytes) + " bytes");
    }
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      return refuse(431, "request headers larger than " + std::to_string(server_.limits.max_header_bytes) + " bytes");
    }
    const bool parse_error = ec.category() == http::make_error_code(http::error::bad_method).category() &&
                             ec != http::error::end_of_stream && ec != http::error::partial_message;
    if (parse_error) return refuse(400, "malformed request");
    close();  // the client left, timed out or reset: nothing to answer
  }

  // Answers an unreadable request and closes: what follows it on the connection cannot be
  // trusted to start where the parser thinks.
  void refuse(int status, const std::string& message) {
    std::string path;
    if (parser_ && parser_->is_header_done()) path = decoded_path(parser_->get().target());
    refused_ = true;
    write(server_.api.error(status, message, path), false);
  }

  // The client may still be sending what was refused; closing with unread data would reset
  // the connection and could lose the answer. So: stop sending, read and drop what arrives
  // for a second (1 MiB at most), then close.
  void linger_then_close() {
    if constexpr (kTls) {
      close();
    } else {
      beast::error_code ignored;
      lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
      phase_ = Phase::kWaiting;  // evictable
      lowest().expires_after(std::chrono::seconds(1));
      buffer_.consume(buffer_.size());
      drain();
    }
  }

  void drain() {
    lowest().async_read_some(buffer_.prepare(8192), [self = this->shared_from_this()](beast::error_code ec, size_t n) {
      self->drained_ += n;
      if (ec || self->drained_ > (1u << 20)) return self->close();
      self->drain();
    });
  }

  void handle() {
    phase_ = Phase::kHandling;
    lowest().expires_never();
    const bool keep_alive = parser_->get().keep_alive() && ++requests_ < server_.limits.max_requests_per_connection;
    net::post(server_.handlers, [self = this->shared_from_this(), request = to_request(parser_->get()), keep_alive] {
      HttpResponse response;
      try {
        response = self->server_.api.handle(request);
      } catch (const std::exception&) {
        response = self->server_.api.error(500, "internal error", request.path);
      }
      net::post(self->server_.ioc, [self, response = std::move(response), keep_alive]() mutable {
        self->write(std::move(response), keep_alive);
      });
    });
  }

  void write(HttpResponse in, bool keep_alive) {
    if (closed_) return;
    auto out = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(in.status), 11);
    for (const auto& [name, value] : in.headers) out->set(name, value);
    if (!in.content_type.empty()) out->set(http::field::content_type, in.content_type);  // none with 204
    out->body() = std::move(in.body);
    out->keep_alive(keep_alive && !server_.stopping);
    out->prepare_payload();
    phase_ = Phase::kWriting;
    lowest().expires_after(server_.limits.write_timeout);
    http::async_write(stream_, *out, [self = this->shared_from_this(), out](beast::error_code ec, size_t) {
      if (!ec && self->refused_) return self->linger_then_close();
      if (ec || !out->keep_alive()) return self->close();
      self->wait_for_request(false);
    });
  }

  HttpServer::Impl& server_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  size_t requests_ = 0;
  bool refused_ = false;  // the last request was refused unread
  size_t drained_ = 0;
};

}  // namespace

void HttpServer::Impl::accept() {
  acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (stopping || ec == net::error::operation_aborted) return;
    if (ec) {
      // Out of descriptors, most likely: the pending connection stays queued, so wait a
      // moment rather than spin on it.
      logger("management")->warn("cannot accept a management API connection: {}", ec.message());
      accept_retry.expires_after(std::chrono::milliseconds(100));
      accept_retry.async_wait([this](beast::error_code e) {
        if (!e) accept();
      });
      return;
    }
    admit(std::move(socket));
    accept();
  });
}

bool HttpServer::Impl::evict_one(const std::string& address) {
  std::shared_ptr<ConnectionBase> oldest;
  for (const auto& weak : connections) {
    auto c = weak.lock();
    if (!c || !c->open() || !c->evictable() || (!address.empty() && c->address() != address)) continue;
    if (!oldest || c->waiting_since() < oldest->waiting_since()) oldest = c;
  }
  if (!oldest) return false;
  oldest->close();
  return true;
}

void HttpServer::Impl::admit(tcp::socket socket) {
  connections.remove_if([](const auto& weak) {
    auto c = weak.lock();
    return !c || !c->open();
  });
  beast::error_code ec;
  const auto peer = socket.remote_endpoint(ec);
  if (ec) return;
  const std::string address = peer.address().to_string();
  const auto from_address = static_cast<size_t>(std::count_if(connections.begin(), connections.end(), [&](const auto& w) {
    auto c = w.lock();
    return c && c->address() == address;
  }));
  const bool room = (from_address < limits.max_connections_per_address || evict_one(address)) &&
                    (connections.size() < limits.max_connections || evict_one(""));
  if (!room) {
    socket.close(ec);
    return;
  }
  socket.set_option(tcp::no_delay(true), ec);
  std::shared_ptr<ConnectionBase> connection;
  if (tls) {
    auto c = std::make_shared<Connection<beast::ssl_stream<beast::tcp_stream>>>(*this, address, std::move(socket), *tls);
    c->start();
    connection = c;
  } else {
    auto c = std::make_shared<Connection<beast::tcp_stream>>(*this, address, std::move(socket));
    c->start();
    connection = c;
  }
  connections.push_back(connection);
}

namespace {

void require_readable(const std::string& path, const std::string& key) {
  if (path.empty()) throw std::runtime_error(key + " is not set (needed with server.ssl.enabled=true)");
  std::ifstream in(path);
  if (!in) throw std::runtime_error(key + ": cannot read " + path + ": " + std::strerror(errno));
}

std::string ssl_error_text(const boost::system::system_error& e) {
  return e.code().message();
}

}  // namespace

HttpServer::HttpServer(const ManagementApi& api, HttpServerLimits limits, std::optional<HttpsSettings> https)
    : impl_(std::make_unique<Impl>(api, limits)) {
  if (!https) return;
  require_readable(https->certificate, "server.ssl.certificate");
  require_readable(https->certificate_private_key, "server.ssl.certificate-private-key");
  ssl::context& ctx = impl_->tls.emplace(ssl::context::tls_server);
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                  ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  try {
    ctx.use_certificate_chain_file(https->certificate);
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error("server.ssl.certificate: " + https->certificate + " is not a PEM certificate (" +
                             ssl_error_text(e) + ")");
  }
  try {
    ctx.use_private_key_file(https->certificate_private_key, ssl::context::pem);
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error("server.ssl.certificate-private-key: " + https->certificate_private_key +
                             " is not a PEM private key, or not the key of server.ssl.certificate (" +
                             ssl_error_text(e) + ")");
  }
  if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
    throw std::runtime_error("server.ssl.certificate-private-key does not belong to server.ssl.certificate");
  }
  if (https->client_auth != HttpsSettings::ClientAuth::kNone) {
    require_readable(https->trust_certificate, "server.ssl.trust-certificate");
    try {
      ctx.load_verify_file(https->trust_certificate);
    } catch (const boost::system::system_error& e) {
      throw std::runtime_error("server.ssl.trust-certificate: " + https->trust_certificate +
                               " holds no PEM certificate (" + ssl_error_text(e) + ")");
    }
    ctx.set_verify_mode(https->client_auth == HttpsSettings::ClientAuth::kNeed
                            ? ssl::verify_peer | ssl::verify_fail_if_no_peer_cert
                            : ssl::verify_peer);
  }
}

HttpServer::~HttpServer() { stop(); }

int HttpServer::start(const std::string& address, int port) {
  auto& s = *impl_;
  const auto fail = [&](const std::string& why) {
    return std::runtime_error("cannot listen on " + address + ":" + std::to_string(port) +
                              " (server.address / server.port): " + why);
  };
  beast::error_code ec;
  tcp::resolver resolver(s.ioc);
  const auto endpoints = resolver.resolve(address, std::to_string(port), tcp::resolver::passive, ec);
  if (ec || endpoints.empty()) throw fail(ec ? ec.message() : "no such address");
  const tcp::endpoint endpoint = *endpoints.begin();
  s.acceptor.open(endpoint.protocol(), ec);
  // SO_REUSEADDR only (no SO_REUSEPORT, which would let a second instance share the port
  // silently), so a restart can bind at once.
  if (!ec) s.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor.bind(endpoint, ec);
  if (!ec) s.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) throw fail(ec.message() + " (address in use or not local)");
  const int bound = s.acceptor.local_endpoint().port();
  s.accept();
  s.io_thread = std::thread([&s] { s.ioc.run(); });
  logger("management")->info("management API listening on {}://{}:{}/actuator", s.tls ? "https" : "http", address,
                             bound);
  return bound;
}

void HttpServer::stop() {
  auto& s = *impl_;
  if (s.io_thread.joinable()) {
    net::post(s.ioc, [&s] {
      s.stopping = true;
      beast::error_code ignored;
      s.acceptor.close(ignored);
      s.accept_retry.cancel();
      for (const auto& weak : s.connections) {
        if (auto c = weak.lock()) c->close();
      }
    });
    s.io_thread.join();  // returns once every connection's operation has ended
  }
  s.handlers.join();  // requests being handled finish; their answers are dropped
}

}  // namespace mi::management

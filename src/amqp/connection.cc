#include "amqp/connection.h"

#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <regex>
#include <vector>

#include "common/fenced_write.h"
#include "common/printable.h"

namespace mi::amqp {
namespace {

constexpr int kMaxArgumentRounds = 12;
constexpr amqp_channel_t kChannelNumbers = 1024;

timeval to_timeval(Millis d) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(d.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((d.count() % 1000) * 1000);
  return tv;
}

std::string bytes(amqp_bytes_t b) { return std::string(static_cast<const char*>(b.bytes), b.len); }

// A queue argument as the broker reports it in a PRECONDITION_FAILED text.
struct Argument {
  std::string type;  // longstr, bool, long, signedint, ...
  std::string value;
};

}  // namespace

RabbitConnection::RabbitConnection(const config::BrokerAddress& address,
                                   const config::SessionSettings& settings, Millis rpc_timeout) {
  conn_ = amqp_new_connection();
  try {
    connect(address, settings, rpc_timeout);
  } catch (...) {
    // The destructor does not run for a constructor that throws.
    amqp_destroy_connection(conn_);
    conn_ = nullptr;
    throw;
  }
}

void RabbitConnection::connect(const config::BrokerAddress& address, const config::SessionSettings& settings,
                               Millis rpc_timeout) {
  amqp_socket_t* socket = nullptr;
  if (address.scheme == "amqps") {
    socket = amqp_ssl_socket_new(conn_);
    if (!socket) throw RabbitError(0, "cannot create a TLS socket");
    amqp_ssl_socket_set_verify_peer(socket, 1);
    amqp_ssl_socket_set_verify_hostname(socket, 1);
    const std::string ca = settings.trust_store.empty() ? "/etc/ssl/certs/ca-certificates.crt" : settings.trust_store;
    if (amqp_ssl_socket_set_cacert(socket, ca.c_str()) != AMQP_STATUS_OK) {
      throw RabbitError(0, "cannot read CA certificates from " + ca + " (session.ssl-trust-store)");
    }
  } else {
    socket = amqp_tcp_socket_new(conn_);
    if (!socket) throw RabbitError(0, "cannot create a socket");
  }
  timeval connect_timeout = to_timeval(std::max(rpc_timeout, Millis{2000}));
  const int rc = amqp_socket_open_noblock(socket, address.host.c_str(), address.port, &connect_timeout);
  if (rc != AMQP_STATUS_OK) {
    throw RabbitError(0, "cannot connect to " + address.display() + ": " + amqp_error_string2(rc));
  }
  timeval handshake = to_timeval(std::max(rpc_timeout, Millis{5000}));
  amqp_set_handshake_timeout(conn_, &handshake);
  timeval rpc = to_timeval(rpc_timeout);
  amqp_set_rpc_timeout(conn_, &rpc);
  // Without consumer_cancel_notify (rabbitmq-c announces only authentication_failure_close)
  // the broker drops a consumer of a deleted queue silently: a standby bound to a management
  // queue that was deleted and recreated would never learn it is bound to nothing, and an
  // input would wait on a queue that is gone. With it, the broker sends basic.cancel, which
  // next_event() reports.
  amqp_table_entry_t capability{};
  capability.key = amqp_cstring_bytes("consumer_cancel_notify");
  capability.value.kind = AMQP_FIELD_KIND_BOOLEAN;
  capability.value.value.boolean = 1;
  amqp_table_entry_t property{};
  property.key = amqp_cstring_bytes("capabilities");
  property.value.kind = AMQP_FIELD_KIND_TABLE;
  property.value.value.table = {1, &capability};
  const amqp_table_t client_properties{1, &property};
  const amqp_rpc_reply_t login = amqp_login_with_properties(
      conn_, settings.vhost.c_str(), 0, 131072, settings.heartbeat_seconds, &client_properties,
      AMQP_SASL_METHOD_PLAIN, settings.username.c_str(), settings.password.c_str());
  if (login.reply_type != AMQP_RESPONSE_NORMAL) {
    if (login.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && login.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
      const auto* close = static_cast<amqp_connection_close_t*>(login.reply.decoded);
      throw RabbitError(close->reply_code, "login to " + address.display() + " as '" + settings.username +
                                               "' refused: " + printable(bytes(close->reply_text)));
    }
    const int status = login.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION ? login.library_error : 0;
    if (status == AMQP_STATUS_TIMEOUT || status == AMQP_STATUS_HEARTBEAT_TIMEOUT) {
      // The TCP connection was accepted, but nothing answered the AMQP handshake: a hung
      // broker, or a load balancer with nothing behind it. No credentials were judged.
      throw RabbitError(0, address.display() + " accepted the connection but did not answer the AMQP handshake within " +
                               std::to_string(std::max(rpc_timeout, Millis{5000}).count()) + " ms");
    }
    if (status != 0 && status != AMQP_STATUS_CONNECTION_CLOSED && status != AMQP_STATUS_SOCKET_ERROR &&
        status != AMQP_STATUS_SOCKET_CLOSED) {
      throw RabbitError(0, "AMQP handshake with " + address.display() + " failed: " + amqp_error_string2(status));
    }
    // RabbitMQ closes the socket on bad credentials before it answers.
    throw RabbitError(403, "login to " + address.display() + " as '" + settings.username + "' on vhost '" +
                               settings.vhost + "' failed: the broker closed the connection (wrong user or password, "
                               "or no access to the vhost)");
  }
  open_channel();
}

RabbitConnection::~RabbitConnection() {
  if (conn_) amqp_destroy_connection(conn_);
}

void RabbitConnection::abort() {
  if (!conn_) return;
  // SO_LINGER with a zero timeout makes close() send a reset and drop the send queue.
  if (const int fd = amqp_get_sockfd(conn_); fd >= 0) {
    const linger reset{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  }
  amqp_destroy_connection(conn_);
  conn_ = nullptr;
}

void RabbitConnection::close_gracefully() {
  if (!conn_) return;
  amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
}

void RabbitConnection::open_channel() {
  // At most two channels are open at once (the current one, and the one being replaced), so
  // numbers are reused after a while instead of running out after 65535 replacements.
  channel_ = static_cast<amqp_channel_t>(channel_ % kChannelNumbers + 1);
  amqp_channel_open(conn_, channel_);
  check_reply(amqp_get_rpc_reply(conn_), "open a channel");
}

void RabbitConnection::check_reply(amqp_rpc_reply_t reply, const std::string& what) {
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return;
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        const auto* close = static_cast<amqp_channel_close_t*>(reply.reply.decoded);
        const int code = close->reply_code;
        const std::string text = printable(bytes(close->reply_text));
        amqp_channel_close_ok_t ok{};
        amqp_send_method(conn_, channel_, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
        open_channel();  // the failed one is gone; later calls use a fresh one
        throw RabbitError(code, text);
      }
      if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        const auto* close = static_cast<amqp_connection_close_t*>(reply.reply.decoded);
        throw RabbitError(close->reply_code, "connection closed by the broker: " + printable(bytes(close->reply_text)));
      }
      throw RabbitError(0, "cannot " + what + ": unexpected broker reply");
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      throw RabbitError(0, "cannot " + what + ": " + amqp_error_string2(reply.library_error));
    default:
      throw RabbitError(0, "cannot " + what);
  }
}

RabbitConnection::QueueInfo RabbitConnection::declare_passive(const std::string& queue) {
  const auto* ok = amqp_queue_declare(conn_, channel_, amqp_cstring_bytes(queue.c_str()), 1, 0, 0, 0, amqp_empty_table);
  check_reply(amqp_get_rpc_reply(conn_), "check queue '" + queue + "'");
  return {ok->message_count, ok->consumer_count};
}

bool RabbitConnection::check_single_active_consumer(const std::string& queue) {
  // AMQP cannot read a queue's arguments, but redeclaring with different ones fails and the
  // broker names the first one that differs. Start from x-single-active-consumer=true and
  // x-queue-type=quorum and adopt every other difference the broker reports, until the
  // declaration is accepted (the queue is single-active-consumer) or the broker objects to
  // x-single-active-consumer. An objection to x-queue-type says it is not a quorum queue.
  bool durable = true, exclusive = false, auto_delete = false, quorum = true;
  std::map<std::string, Argument> arguments = {{"x-single-active-consumer", {"bool", "true"}},
                                               {"x-queue-type", {"longstr", "quorum"}}};
  static const std::regex kFlag(R"(inequivalent arg '(durable|exclusive|auto_delete)'.*current is '(true|false)')");
  static const std::regex kArg(R"(inequivalent arg '([^']+)'.*but current is (none|the value '([^']*)' of type '([a-z]+)'))");
  // The queue type is reported in a form of its own (RabbitMQ 3.10).
  static const std::regex kQueueType(R"(inequivalent arg 'x-queue-type'.*received '[^']*' but current is '([^']*)')");
  for (int round = 0; round < kMaxArgumentRounds; ++round) {
    std::vector<amqp_table_entry_t> entries;
    std::vector<std::string> keep;  // owns the strings the table points into
    keep.reserve(arguments.size() * 2);
    for (const auto& [key, arg] : arguments) {
      amqp_table_entry_t e{};
      keep.push_back(key);
      e.key = amqp_cstring_bytes(keep.back().c_str());
      if (arg.type == "bool") {
        e.value.kind = AMQP_FIELD_KIND_BOOLEAN;
        e.value.value.boolean = arg.value == "true";
      } else if (arg.type == "longstr") {
        keep.push_back(arg.value);
        e.value.kind = AMQP_FIELD_KIND_UTF8;
        e.value.value.bytes = amqp_cstring_bytes(keep.back().c_str());
      } else {
        // The value came from the broker's reply text: a number that does not parse is the
        // broker's error, reported as one (std::stoll would throw past every handler).
        std::int64_t number = 0;
        const auto [end, error] = std::from_chars(arg.value.data(), arg.value.data() + arg.value.size(), number);
        if (error != std::errc() || end != arg.value.data() + arg.value.size()) {
          throw RabbitError(0, "check queue '" + queue + "': the broker reported argument " + key +
                            " as a number that is not one ('" + arg.value.substr(0, 64) + "')");
        }
        e.value.kind = AMQP_FIELD_KIND_I64;
        e.value.value.i64 = number;
      }
      entries.push_back(e);
    }
    amqp_table_t table{static_cast<int>(entries.size()), entries.data()};
    amqp_queue_declare(conn_, channel_, amqp_cstring_bytes(queue.c_str()), 0, durable, exclusive, auto_delete, table);
    try {
      check_reply(amqp_get_rpc_reply(conn_), "check queue '" + queue + "'");
      return quorum;  // accepted: x-single-active-consumer is true on this queue
    } catch (const RabbitError& e) {
      if (e.code() != 406) throw;
      const std::string text = e.what();
      std::smatch m;
      if (std::regex_search(text, m, kFlag)) {
        const bool current = m[2] == "true";
        if (m[1] == "durable") durable = current;
        if (m[1] == "exclusive") exclusive = current;
        if (m[1] == "auto_delete") auto_delete = current;
        continue;
      }
      if (std::regex_search(text, m, kQueueType)) {
        quorum = m[1] == "quorum";
        arguments["x-queue-type"] = {"longstr", m[1]};
        continue;
      }
      if (!std::regex_search(text, m, kArg)) throw;
      if (m[1] == "x-single-active-consumer") {
        throw RabbitError(406, "management queue '" + queue +
                                   "' is not exclusive: it must be declared with x-single-active-consumer=true");
      }
      if (m[1] == "x-queue-type") quorum = false;
      if (m[2] == "none") {
        arguments.erase(m[1]);
      } else {
        const std::string type = m[4];
        if (type != "bool" && type != "longstr" && type != "long" && type != "signedint" && type != "short" &&
            type != "byte" && type != "unsignedint")
          throw;
        arguments[m[1]] = {type, m[3]};
      }
    }
  }
  throw RabbitError(406, "cannot verify management queue '" + queue + "': too many differing arguments");
}

void RabbitConnection::declare_queue(const std::string& queue, const std::string& type,
                                     bool single_active_consumer) {
  amqp_table_entry_t e[2]{};
  int count = 0;
  if (!type.empty()) {
    e[count].key = amqp_cstring_bytes("x-queue-type");
    e[count].value.kind = AMQP_FIELD_KIND_UTF8;
    e[count++].value.value.bytes = amqp_cstring_bytes(type.c_str());
  }
  if (single_active_consumer) {
    e[count].key = amqp_cstring_bytes("x-single-active-consumer");
    e[count].value.kind = AMQP_FIELD_KIND_BOOLEAN;
    e[count++].value.value.boolean = 1;
  }
  amqp_table_t table{count, e};
  amqp_queue_declare(conn_, channel_, amqp_cstring_bytes(queue.c_str()), 0, 1, 0, 0, table);
  check_reply(amqp_get_rpc_reply(conn_), "declare queue '" + queue + "'");
}

void RabbitConnection::publish_persistent(const std::string& queue, const std::string& body) {
  amqp_basic_properties_t props{};
  props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG;
  props.delivery_mode = 2;
  props.content_type = amqp_cstring_bytes("text/plain");
  const int rc = amqp_basic_publish(conn_, channel_, amqp_empty_bytes, amqp_cstring_bytes(queue.c_str()), 0, 0,
                                    &props, amqp_cstring_bytes(body.c_str()));
  if (rc != AMQP_STATUS_OK) throw RabbitError(0, std::string("cannot publish: ") + amqp_error_string2(rc));
}

void RabbitConnection::consume(const std::string& queue, unsigned short prefetch, const std::string& consumer_tag) {
  amqp_basic_qos(conn_, channel_, 0, prefetch, 0);
  check_reply(amqp_get_rpc_reply(conn_), "set prefetch");
  amqp_basic_consume(conn_, channel_, amqp_cstring_bytes(queue.c_str()),
                     consumer_tag.empty() ? amqp_empty_bytes : amqp_cstring_bytes(consumer_tag.c_str()), 0, 0, 0,
                     amqp_empty_table);
  check_reply(amqp_get_rpc_reply(conn_), "consume from '" + queue + "'");
  consumed_queue_ = queue;
}

void RabbitConnection::consume_on_new_channel(const std::string& queue, unsigned short prefetch,
                                              const std::string& consumer_tag) {
  const amqp_channel_t old = channel_;
  open_channel();
  consume(queue, prefetch, consumer_tag);
  amqp_channel_close(conn_, old, AMQP_REPLY_SUCCESS);
  check_reply(amqp_get_rpc_reply(conn_), "close the replaced channel");
}

void RabbitConnection::ack(unsigned long long tag, bool multiple) {
  const int rc = amqp_basic_ack(conn_, channel_, tag, multiple ? 1 : 0);
  if (rc != AMQP_STATUS_OK) throw RabbitError(0, std::string("cannot acknowledge: ") + amqp_error_string2(rc));
}

void RabbitConnection::requeue(unsigned long long tag) {
  const int rc = amqp_basic_nack(conn_, channel_, tag, 0, 1);
  if (rc != AMQP_STATUS_OK) throw RabbitError(0, std::string("cannot requeue: ") + amqp_error_string2(rc));
}

void RabbitConnection::reject(unsigned long long tag) {
  const int rc = amqp_basic_reject(conn_, channel_, tag, 0);
  if (rc != AMQP_STATUS_OK) throw RabbitError(0, std::string("cannot reject: ") + amqp_error_string2(rc));
}

namespace {

std::string field_text(const amqp_field_value_t& v) {
  switch (v.kind) {
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES: return bytes(v.value.bytes);
    case AMQP_FIELD_KIND_BOOLEAN: return v.value.boolean ? "true" : "false";
    case AMQP_FIELD_KIND_I8: return std::to_string(v.value.i8);
    case AMQP_FIELD_KIND_U8: return std::to_string(v.value.u8);
    case AMQP_FIELD_KIND_I16: return std::to_string(v.value.i16);
    case AMQP_FIELD_KIND_U16: return std::to_string(v.value.u16);
    case AMQP_FIELD_KIND_I32: return std::to_string(v.value.i32);
    case AMQP_FIELD_KIND_U32: return std::to_string(v.value.u32);
    case AMQP_FIELD_KIND_I64: return std::to_string(v.value.i64);
    case AMQP_FIELD_KIND_U64:
    case AMQP_FIELD_KIND_TIMESTAMP: return std::to_string(v.value.u64);
    case AMQP_FIELD_KIND_F32: return std::to_string(v.value.f32);
    case AMQP_FIELD_KIND_F64: return std::to_string(v.value.f64);
    default: return "";
  }
}

RabbitConnection::Headers headers_of(const amqp_basic_properties_t& p) {
  RabbitConnection::Headers h;
  if (p._flags & AMQP_BASIC_HEADERS_FLAG) {
    for (int i = 0; i < p.headers.num_entries; ++i) {
      h[bytes(p.headers.entries[i].key)] = field_text(p.headers.entries[i].value);
    }
  }
  if (p._flags & AMQP_BASIC_CONTENT_TYPE_FLAG) h["content-type"] = bytes(p.content_type);
  if (p._flags & AMQP_BASIC_CORRELATION_ID_FLAG) h["correlation-id"] = bytes(p.correlation_id);
  if (p._flags & AMQP_BASIC_MESSAGE_ID_FLAG) h["message-id"] = bytes(p.message_id);
  return h;
}

}  // namespace

void RabbitConnection::enable_confirms() {
  amqp_confirm_select(conn_, channel_);
  check_reply(amqp_get_rpc_reply(conn_), "enable publisher confirms");
}

unsigned long long RabbitConnection::publish(const std::string& exchange, const std::string& routing_key,
                                             const std::string& body, const Headers& headers) {
  amqp_basic_properties_t props{};
  props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
  props.delivery_mode = 2;
  std::vector<amqp_table_entry_t> entries;
  for (const auto& [key, value] : headers) {
    if (key == "content-type") {
      props._flags |= AMQP_BASIC_CONTENT_TYPE_FLAG;
      props.content_type = amqp_cstring_bytes(value.c_str());
    } else if (key == "correlation-id") {
      props._flags |= AMQP_BASIC_CORRELATION_ID_FLAG;
      props.correlation_id = amqp_cstring_bytes(value.c_str());
    } else if (key == "message-id") {
      props._flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
      props.message_id = amqp_cstring_bytes(value.c_str());
    } else {
      amqp_table_entry_t e{};
      e.key = amqp_cstring_bytes(key.c_str());
      e.value.kind = AMQP_FIELD_KIND_UTF8;
      e.value.value.bytes = amqp_cstring_bytes(value.c_str());
      entries.push_back(e);
    }
  }
  if (!entries.empty()) {
    props._flags |= AMQP_BASIC_HEADERS_FLAG;
    props.headers = {static_cast<int>(entries.size()), entries.data()};
  }
  amqp_bytes_t payload{body.size(), const_cast<char*>(body.data())};
  const int rc = amqp_basic_publish(conn_, channel_, amqp_cstring_bytes(exchange.c_str()),
                                    amqp_cstring_bytes(routing_key.c_str()), 1, 0, &props, payload);
  if (rc != AMQP_STATUS_OK) throw RabbitError(0, std::string("cannot publish: ") + amqp_error_string2(rc));
  return next_publish_tag_++;
}

std::optional<unsigned long long> RabbitConnection::publish_fenced(const FencingGate* fence,
                                                                  const std::string& exchange,
                                                                  const std::string& routing_key,
                                                                  const std::string& body, const Headers& headers) {
  unsigned long long tag = 0;
  if (write_while_gate_open(amqp_get_sockfd(conn_), fence, [&] { tag = publish(exchange, routing_key, body, headers); })) {
    return tag;
  }
  abort();
  return std::nullopt;
}

RabbitConnection::Confirms RabbitConnection::await_confirms(unsigned long long first, std::size_t count,
                                                            Millis timeout, const FencingGate* fence) {
  Confirms out;
  out.each.resize(count);
  std::size_t open = count;
  // Marks every still-pending tag up to `tag` (or just `tag`) with `kind`.
  auto settle = [&](unsigned long long tag, bool multiple, Confirm::Kind kind, const std::string& text) {
    const unsigned long long from = multiple ? first : tag;
    for (unsigned long long t = std::max(from, first); t <= tag && t < first + count; ++t) {
      auto& c = out.each[t - first];
      if (c.kind != Confirm::kPending) continue;
      c = {kind, text};
      --open;
    }
  };
  // A mandatory message the broker cannot route comes back as basic.return before its
  // basic.ack. basic.return names no tag, so the ack that follows tells which message it was;
  // should that ack cover several messages, all of them are treated as returned (retried:
  // possibly a duplicate, never a loss).
  std::optional<std::string> returned;
  const auto deadline = SystemClock::instance().now() + timeout;
  while (open > 0) {
    const auto now = SystemClock::instance().now();
    if (fence && !fence->allows()) {
      out.lost = RabbitError(0, "leadership lease ran out with " + std::to_string(open) + " publications unconfirmed");
      out.fenced = true;
      return out;
    }
    if (now >= deadline) {
      out.lost = RabbitError(0, "the broker did not confirm within " + std::to_string(timeout.count()) + " ms");
      return out;
    }
    // Wake up when the lease would end, to see whether it was extended meanwhile.
    const auto wake = fence ? std::min(deadline, fence->valid_until()) : deadline;
    timeval tv = to_timeval(std::chrono::ceil<Millis>(wake - now));
    amqp_frame_t frame{};
    const int wait = amqp_simple_wait_frame_noblock(conn_, &frame, &tv);
    if (wait == AMQP_STATUS_TIMEOUT) continue;
    if (wait != AMQP_STATUS_OK) {
      out.lost = RabbitError(0, std::string("connection lost: ") + amqp_error_string2(wait));
      return out;
    }
    if (frame.frame_type != AMQP_FRAME_METHOD) continue;  // content of a returned message
    switch (frame.payload.method.id) {
      case AMQP_BASIC_RETURN_METHOD: {
        const auto* r = static_cast<amqp_basic_return_t*>(frame.payload.method.decoded);
        returned = "unroutable: exchange '" + bytes(r->exchange) + "' has no queue bound for routing key '" +
                   bytes(r->routing_key) + "' (" + printable(bytes(r->reply_text)) + ")";
        break;
      }
      case AMQP_BASIC_ACK_METHOD: {
        const auto* a = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
        if (returned) {
          settle(a->delivery_tag, a->multiple != 0, Confirm::kReturned, *returned);
          returned.reset();
        } else {
          settle(a->delivery_tag, a->multiple != 0, Confirm::kAck, "");
        }
        break;
      }
      case AMQP_BASIC_NACK_METHOD: {
        const auto* n = static_cast<amqp_basic_nack_t*>(frame.payload.method.decoded);
        settle(n->delivery_tag, n->multiple != 0, Confirm::kNack, "the broker refused the message (nack)");
        break;
      }
      case AMQP_CHANNEL_CLOSE_METHOD: {
        const auto* close = static_cast<amqp_channel_close_t*>(frame.payload.method.decoded);
        const int code = close->reply_code;
        const std::string text = printable(bytes(close->reply_text));
        amqp_channel_close_ok_t ok{};
        amqp_send_method(conn_, frame.channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
        out.lost = RabbitError(code, "channel closed by the broker: " + text);
        return out;
      }
      case AMQP_CONNECTION_CLOSE_METHOD: {
        const auto* close = static_cast<amqp_connection_close_t*>(frame.payload.method.decoded);
        out.lost = RabbitError(close->reply_code, "connection closed by the broker: " + printable(bytes(close->reply_text)));
        return out;
      }
      default:
        break;
    }
  }
  return out;
}

void RabbitConnection::publish_confirmed(const std::string& exchange, const std::string& routing_key,
                                         const std::string& body, const Headers& headers, Millis timeout) {
  const unsigned long long tag = publish(exchange, routing_key, body, headers);
  const Confirms confirms = await_confirms(tag, 1, timeout);
  if (confirms.lost) throw *confirms.lost;
  const Confirm& c = confirms.each.front();
  if (c.kind == Confirm::kReturned) throw RabbitError(312, c.text);
  if (c.kind == Confirm::kNack) throw RabbitError(0, c.text);
}

namespace {

// How long the header and body frames of a delivery may take to follow its basic.deliver
// (RabbitMQ writes them at once); with heartbeats on, a dead connection is noticed sooner.
constexpr Millis kContentFrameTimeout{30000};

}  // namespace

// Not amqp_consume_message(): rabbitmq-c allocates the body size a content header announces,
// up to 2^64 bytes, before the first body frame arrives. Here the body is collected frame by
// frame, and one over max_body_size_ is read off the socket and dropped.
RabbitConnection::Event RabbitConnection::read_delivery(const amqp_frame_t& deliver) {
  const auto* method = static_cast<const amqp_basic_deliver_t*>(deliver.payload.method.decoded);
  Event e;
  e.tag = method->delivery_tag;
  e.redelivered = method->redelivered != 0;
  const amqp_channel_t channel = deliver.channel;
  // The next frame of this delivery's channel. Frames of other channels (a channel closed by
  // consume_on_new_channel may still be delivering) are skipped; a connection.close is not.
  const auto next_content_frame = [&](amqp_frame_t& frame) {
    for (;;) {
      timeval tv = to_timeval(kContentFrameTimeout);
      const int rc = amqp_simple_wait_frame_noblock(conn_, &frame, &tv);
      if (rc == AMQP_STATUS_TIMEOUT) {
        throw RabbitError(0, "the broker sent a delivery without its content for " +
                                 std::to_string(kContentFrameTimeout.count() / 1000) + " s");
      }
      if (rc != AMQP_STATUS_OK) throw RabbitError(0, std::string("connection lost: ") + amqp_error_string2(rc));
      if (frame.channel == channel) return;
      if (frame.frame_type == AMQP_FRAME_METHOD && frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
        const auto* close = static_cast<amqp_connection_close_t*>(frame.payload.method.decoded);
        throw RabbitError(close->reply_code, "connection closed by the broker: " + printable(bytes(close->reply_text)));
      }
    }
  };
  amqp_frame_t frame{};
  next_content_frame(frame);
  if (frame.frame_type != AMQP_FRAME_HEADER) {
    throw RabbitError(0, "protocol error: a delivery came without its content header");
  }
  e.body_size = frame.payload.properties.body_size;
  e.headers = headers_of(*static_cast<const amqp_basic_properties_t*>(frame.payload.properties.decoded));
  const bool keep = e.body_size <= max_body_size_;
  e.kind = keep ? Event::kDelivery : Event::kOversized;
  if (keep) e.body.reserve(e.body_size);
  std::uint64_t received = 0;
  while (received < e.body_size) {
    // The frames read so far were copied out: their buffers go back to the pool, so a long
    // body never holds more than a frame (rabbitmq-c keeps a channel's frames until released).
    amqp_maybe_release_buffers_on_channel(conn_, channel);
    next_content_frame(frame);
    if (frame.frame_type != AMQP_FRAME_BODY) {
      throw RabbitError(0, "protocol error: a delivery's body ended after " + std::to_string(received) + " of the " +
                               std::to_string(e.body_size) + " bytes its header announced");
    }
    const amqp_bytes_t& fragment = frame.payload.body_fragment;
    if (fragment.len > e.body_size - received) {
      throw RabbitError(0, "protocol error: a delivery's body is longer than the " + std::to_string(e.body_size) +
                               " bytes its header announced");
    }
    if (keep) e.body.append(static_cast<const char*>(fragment.bytes), fragment.len);
    received += fragment.len;
  }
  return e;
}

RabbitConnection::Event RabbitConnection::next_event(Millis timeout) {
  amqp_maybe_release_buffers(conn_);
  timeval tv = to_timeval(timeout);
  amqp_frame_t frame{};
  const int rc = amqp_simple_wait_frame_noblock(conn_, &frame, &tv);
  if (rc == AMQP_STATUS_TIMEOUT) return {};
  if (rc != AMQP_STATUS_OK) throw RabbitError(0, std::string("connection lost: ") + amqp_error_string2(rc));
  if (frame.frame_type == AMQP_FRAME_METHOD && frame.payload.method.id == AMQP_BASIC_DELIVER_METHOD) {
    Event e = read_delivery(frame);
    // Sent on a channel closed since (consume_on_new_channel): the broker took it back.
    if (frame.channel != channel_) return {};
    return e;
  }
  if (frame.frame_type != AMQP_FRAME_METHOD) return {};
  switch (frame.payload.method.id) {
    case AMQP_BASIC_CANCEL_METHOD:
      throw RabbitError(0, "the broker cancelled the consumer of queue '" + consumed_queue_ + "' (was it deleted?)");
    case AMQP_CHANNEL_CLOSE_METHOD: {
      const auto* close = static_cast<amqp_channel_close_t*>(frame.payload.method.decoded);
      const std::string text = printable(bytes(close->reply_text));
      amqp_channel_close_ok_t ok{};
      amqp_send_method(conn_, frame.channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
      throw RabbitError(close->reply_code, "channel closed by the broker: " + text);
    }
    case AMQP_CONNECTION_CLOSE_METHOD: {
      const auto* close = static_cast<amqp_connection_close_t*>(frame.payload.method.decoded);
      const std::string text = printable(bytes(close->reply_text));
      amqp_connection_close_ok_t ok{};
      amqp_send_method(conn_, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
      throw RabbitError(close->reply_code, "connection closed by the broker: " + text);
    }
    default:
      return {};
  }
}

}  // namespace mi::amqp

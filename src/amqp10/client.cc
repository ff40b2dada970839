#include "amqp10/client.h"

#include <proton/binary.hpp>
#include <proton/codec/map.hpp>
#include <proton/connection.hpp>
#include <proton/delivery.hpp>
#include <proton/error_condition.hpp>
#include <proton/message.hpp>
#include <proton/message_id.hpp>
#include <proton/scalar.hpp>
#include <proton/messaging_handler.hpp>
#include <proton/receiver.hpp>
#include <proton/receiver_options.hpp>
#include <proton/sender.hpp>
#include <proton/sender_options.hpp>
#include <proton/tracker.hpp>
#include <proton/transport.hpp>

#include <proton/delivery.h>
#include <proton/disposition.h>
#include <proton/link.h>
#include <proton/session.h>
#include <proton/work_queue.hpp>

#include <cstring>

namespace mi::amqp10 {
namespace {

proton::binary ticket_tag(std::uint64_t ticket) {
  std::string bytes(sizeof ticket, '\0');
  std::memcpy(bytes.data(), &ticket, sizeof ticket);
  return proton::binary(bytes);
}

std::uint64_t ticket_of(const proton::binary& tag) {
  std::uint64_t ticket = 0;
  if (tag.size() == sizeof ticket) std::memcpy(&ticket, tag.data(), sizeof ticket);
  return ticket;
}

// A property as text: strings and symbols as they are, anything else (numbers, booleans,
// UUIDs) in Proton's notation.
std::string text_of(const proton::scalar& value) {
  if (value.type() == proton::STRING) return proton::get<std::string>(value);
  if (value.type() == proton::SYMBOL) return std::string(proton::get<proton::symbol>(value));
  return proton::to_string(value);
}
std::string text_of(const proton::message_id& id) {
  return id.type() == proton::STRING ? proton::get<std::string>(id) : proton::to_string(id);
}

// Message properties and application properties as headers (README, "The amqp binder").
Headers headers_of(const proton::message& m) {
  Headers headers;
  if (m.properties().size() > 0) {
    std::map<std::string, proton::scalar> properties;
    proton::get(m.properties().value(), properties);
    for (const auto& [key, value] : properties) headers[key] = text_of(value);
  }
  if (!m.content_type().empty()) headers["content-type"] = m.content_type();
  if (!m.correlation_id().empty()) headers["correlation-id"] = text_of(m.correlation_id());
  if (!m.id().empty()) headers["message-id"] = text_of(m.id());
  if (!m.subject().empty()) headers["subject"] = m.subject();
  return headers;
}

// proton::link keeps its pn_link_t in a protected member of a base class. The C API reaches
// what the C++ one does not: the link's max-message-size, the session's incoming capacity and
// a delivery still partly transferred. A copy of the receiver (one more reference to the same
// link) as this derived class may ask for it.
class LinkAccess : proton::receiver {
 public:
  static pn_link_t* of(const proton::receiver& r) { return LinkAccess(r).pn_object(); }

 private:
  explicit LinkAccess(const proton::receiver& r) : proton::receiver(r) {}
};

// How often the receiving thread looks at a message still being transferred.
const proton::duration kPartialCheckInterval{200};

}  // namespace

// A message prepare_send() built, waiting for flush_sends(). (Defined before the first
// member function that may destroy Client::prepared_.)
struct Client::PreparedSend {
  std::uint64_t ticket = 0;
  proton::message message;
  const FencingGate* fence = nullptr;
};

// Proton's side: runs on the client's thread only.
class Client::Handler final : public proton::messaging_handler {
 public:
  Handler(Client& client, Endpoint endpoint) : client_(client), endpoint_(std::move(endpoint)) {}

  void on_container_start(proton::container& container) override {
    connection_ = container.connect(endpoint_.url(), connection_options(endpoint_));
  }
  void on_connection_open(proton::connection& connection) override {
    MutexLock lock(client_.mutex_);
    client_.product_ = peer_product(connection);
    // The connection's queue wakes this thread at once (Proton 0.37's container-wide queue
    // waited for the next timer, up to seconds). connection_ keeps it alive; once the
    // connection is closed, add() refuses work.
    client_.work_queue_ = &connection.work_queue();
    client_.opened_ = true;
    client_.cv_.notify_all();
  }
  void on_receiver_open(proton::receiver&) override { set_flag(&Client::receiver_open_); }
  void on_sender_open(proton::sender&) override { set_flag(&Client::sender_open_); }

  void on_message(proton::delivery& delivery, proton::message& message) override {
    const std::uint64_t tag = ++next_tag_;
    deliveries_.emplace(tag, delivery);
    Received r{tag, body_bytes(message).value_or(proton::to_string(message.body())), headers_of(message)};
    MutexLock lock(client_.mutex_);
    client_.received_.push_back(std::move(r));
    client_.cv_.notify_all();
  }

  void on_tracker_accept(proton::tracker& t) override { answer(t, {SendAnswer::Kind::kAccepted, ""}); }
  void on_tracker_reject(proton::tracker& t) override {
    answer(t, {SendAnswer::Kind::kRefused, "rejected by the broker"});
  }
  void on_tracker_release(proton::tracker& t) override {
    // Released (or modified): the broker did not take it, e.g. no queue behind the address.
    answer(t, {SendAnswer::Kind::kRefused, "released by the broker (not stored: does the address exist?)"});
  }

  void on_receiver_error(proton::receiver& r) override { fail("receiver: " + describe(r.error())); }
  void on_sender_error(proton::sender& s) override { fail("sender: " + describe(s.error())); }
  void on_session_error(proton::session& s) override { fail("session: " + describe(s.error())); }
  void on_connection_error(proton::connection& c) override { fail(describe(c.error())); }
  void on_transport_error(proton::transport& t) override {
    bool opened = false;
    {
      MutexLock lock(client_.mutex_);
      opened = client_.opened_;
    }
    fail(describe_transport_error(t.error(), opened, "amqp.username and amqp.password"));
  }
  void on_transport_close(proton::transport&) override { fail("connection closed"); }
  void on_receiver_close(proton::receiver&) override { fail("the broker detached the receiver"); }
  void on_sender_close(proton::sender&) override { fail("the broker detached the sender"); }
  void on_connection_close(proton::connection&) override { fail("connection closed by the broker"); }
  void on_error(const proton::error_condition& c) override { fail(describe(c)); }

  // Work from the client's callers, run here.
  void open_receiver(const std::string& address, int credit, std::uint64_t max_message_size) {
    receiver_ = connection_.open_receiver(
        address, proton::receiver_options().credit_window(credit).auto_accept(false));
    // Before Proton writes the begin and attach frames (after this returns): both carry it.
    pn_link_t* link = LinkAccess::of(receiver_);
    pn_link_set_max_message_size(link, max_message_size);
    // Proton keeps a message's frames until its last one came, with no bound of its own.
    // With a capacity, the session window it grants (capacity minus what it holds, in
    // frames) stops a sender once this much is held; a sender that goes on is a protocol
    // error (window-violation) that closes the connection.
    pn_session_set_incoming_capacity(pn_link_session(link), max_message_size + 2 * kMaxFrameSize);
    max_message_size_ = max_message_size;
    schedule_partial_check();
  }
  void open_sender(const std::string& address) { sender_ = connection_.open_sender(address); }
  void settle(std::uint64_t tag, bool accept) {
    const auto it = deliveries_.find(tag);
    if (it == deliveries_.end()) return;
    if (accept) {
      it->second.accept();
    } else {
      it->second.release();
    }
    deliveries_.erase(it);
  }
  void send(std::uint64_t ticket, const proton::message& message, const FencingGate* fence) {
    // The last moment before Proton encodes it for the wire.
    if (!fence_allows(fence)) {
      answer_ticket(ticket, {SendAnswer::Kind::kFenced, "leadership not confirmed; message not sent"});
      return;
    }
    sender_.send(message, ticket_tag(ticket));
  }
  void close() {
    closing_ = true;
    if (connection_) connection_.close();
  }

 private:
  void schedule_partial_check() {
    connection_.work_queue().schedule(kPartialCheckInterval, [this] { check_partial_delivery(); });
  }
  // A message past max_message_size_ while still arriving is refused before more of it is
  // held: rejected and settled, so the broker does not offer it again (it dead-letters or
  // drops it, as for any rejected message), then the connection is closed, because Proton
  // counts the rest of a settled message's frames against the session window for good.
  void check_partial_delivery() {
    if (closing_ || !receiver_) return;
    pn_delivery_t* current = pn_link_current(LinkAccess::of(receiver_));
    if (current && pn_delivery_partial(current) && pn_delivery_pending(current) > max_message_size_) {
      const std::string why = "rejected a message larger than max-message-size (" + std::to_string(max_message_size_) +
                              " bytes): " + std::to_string(pn_delivery_pending(current)) +
                              " bytes had arrived and more were coming";
      pn_condition_t* condition = pn_disposition_condition(pn_delivery_local(current));
      pn_condition_set_name(condition, "amqp:link:message-size-exceeded");
      pn_condition_set_description(condition, why.c_str());
      pn_delivery_update(current, PN_REJECTED);
      pn_delivery_settle(current);
      fail(why);
      closing_ = true;
      connection_.close(proton::error_condition("amqp:link:message-size-exceeded", why));
      return;
    }
    schedule_partial_check();
  }

  static bool fence_allows(const FencingGate* fence) {
    return !fence || fence->allows();
  }
  void set_flag(bool Client::*flag) {
    MutexLock lock(client_.mutex_);
    client_.*flag = true;
    client_.cv_.notify_all();
  }
  void answer(proton::tracker& t, SendAnswer a) {
    answer_ticket(ticket_of(t.tag()), std::move(a));
    t.settle();
  }
  void answer_ticket(std::uint64_t ticket, SendAnswer a) {
    MutexLock lock(client_.mutex_);
    auto& slot = client_.answers_[ticket];
    const bool was_pending = slot.answer.kind == SendAnswer::Kind::kPending;
    slot.answer = std::move(a);
    // Only the last awaited answer wakes the waiting caller.
    if (slot.awaited && was_pending && --client_.awaited_pending_ == 0) client_.cv_.notify_all();
  }
  void fail(const std::string& why) {
    MutexLock lock(client_.mutex_);
    if (!client_.failure_) client_.failure_ = closing_ ? "closed" : why;
    client_.cv_.notify_all();
  }

  Client& client_;
  const Endpoint endpoint_;
  proton::connection connection_;
  proton::receiver receiver_;
  proton::sender sender_;
  std::map<std::uint64_t, proton::delivery> deliveries_;  // received, not yet settled
  std::uint64_t next_tag_ = 0;
  std::uint64_t max_message_size_ = Client::kDefaultMaxMessageSize;
  bool closing_ = false;
};

Client::Client(const Endpoint& endpoint, Millis timeout) : url_(endpoint.url()) {
  handler_ = std::make_unique<Handler>(*this, endpoint);
  container_ = std::make_unique<proton::container>(*handler_);
  container_->auto_stop(false);  // runs until the destructor stops it
  thread_ = std::thread([this] {
    try {
      container_->run();
    } catch (const std::exception& e) {
      MutexLock lock(mutex_);
      if (!failure_) failure_ = std::string("AMQP 1.0: ") + e.what();
      cv_.notify_all();
    }
  });
  MutexLock lock(mutex_);
  cv_.wait_for(lock.native(), timeout, [this]() REQUIRES(mutex_) { return opened_ || failure_; });
  if (opened_) return;
  const std::string why = failure_ ? *failure_
                                   : "no AMQP 1.0 handshake within " + std::to_string(timeout.count()) +
                                         " ms (is it an AMQP 1.0 port?)";
  lock.unlock();
  container_->stop();
  thread_.join();
  throw Amqp10Error("cannot connect to " + url_ + ": " + why);
}

Client::~Client() {
  if (container_) container_->stop();
  if (thread_.joinable()) thread_.join();
  container_.reset();  // before the handler it calls
}

void Client::throw_if_failed() const {
  if (failure_) throw Amqp10Error(url_ + ": " + *failure_);
}

void Client::inject(std::function<void()> work) {
  proton::work_queue* queue = nullptr;
  {
    MutexLock lock(mutex_);
    throw_if_failed();
    queue = work_queue_;
  }
  if (!queue || !queue->add(proton::work(std::move(work)))) throw Amqp10Error(url_ + ": connection closed");
}

void Client::open_receiver(const std::string& queue, int credit, Millis timeout, std::uint64_t max_message_size) {
  const std::string address = queue_address(product_, queue);
  inject([this, address, credit, max_message_size] { handler_->open_receiver(address, credit, max_message_size); });
  await_attach(&Client::receiver_open_, "a receiver", address, timeout);
}

void Client::open_sender(const std::string& address_or_queue, Millis timeout) {
  const std::string address = queue_address(product_, address_or_queue);
  inject([this, address] { handler_->open_sender(address); });
  await_attach(&Client::sender_open_, "a sender", address, timeout);
}

void Client::await_attach(bool Client::*attached, const char* link, const std::string& address, Millis timeout) {
  MutexLock lock(mutex_);
  cv_.wait_for(lock.native(), timeout, [&]() REQUIRES(mutex_) { return this->*attached || failure_; });
  throw_if_failed();
  if (!(this->*attached)) throw Amqp10Error(url_ + ": no answer to attaching " + link + " to '" + address + "'");
}

std::optional<Received> Client::receive(Millis timeout) {
  MutexLock lock(mutex_);
  cv_.wait_for(lock.native(), timeout, [this]() REQUIRES(mutex_) { return !received_.empty() || failure_; });
  if (received_.empty()) {
    throw_if_failed();
    return std::nullopt;
  }
  Received r = std::move(received_.front());
  received_.pop_front();
  return r;
}

void Client::accept(std::uint64_t tag) {
  inject([this, tag] { handler_->settle(tag, true); });
}

void Client::release(std::uint64_t tag) {
  inject([this, tag] { handler_->settle(tag, false); });
}

std::uint64_t Client::send(const std::string& body, const Headers& headers, const FencingGate* fence) {
  const std::uint64_t ticket = prepare_send(body, headers, fence);
  flush_sends();
  return ticket;
}

std::uint64_t Client::prepare_send(const std::string& body, const Headers& headers, const FencingGate* fence) {
  proton::message message;
  message.body(proton::binary(body));
  message.inferred(true);  // one data section: plain bytes for every consumer
  message.durable(true);
  for (const auto& [key, value] : headers) {
    if (key == "content-type") {
      message.content_type(value);
    } else if (key == "correlation-id") {
      message.correlation_id(value);
    } else if (key == "message-id") {
      message.id(value);
    } else if (key == "subject") {
      message.subject(value);
    } else {
      message.properties().put(key, value);
    }
  }
  std::uint64_t ticket = 0;
  {
    MutexLock lock(mutex_);
    throw_if_failed();
    ticket = next_ticket_++;
    answers_[ticket] = {};
  }
  prepared_.push_back({ticket, std::move(message), fence});
  return ticket;
}

void Client::flush_sends() {
  if (prepared_.empty()) return;
  // Shared, so that the work stays cheap to copy whatever Proton's queue does with it.
  auto batch = std::make_shared<std::vector<PreparedSend>>(std::move(prepared_));
  prepared_.clear();
  inject([this, batch] {
    for (const auto& s : *batch) handler_->send(s.ticket, s.message, s.fence);
  });
}

std::vector<SendAnswer> Client::await(const std::vector<std::uint64_t>& tickets, Millis timeout,
                                      const FencingGate* fence) {
  const auto deadline = SystemClock::instance().now() + timeout;
  MutexLock lock(mutex_);
  awaited_pending_ = 0;
  for (const auto t : tickets) {
    auto& slot = answers_[t];
    if (slot.answer.kind == SendAnswer::Kind::kPending && !slot.awaited) {
      slot.awaited = true;
      ++awaited_pending_;
    }
  }
  // Woken by the last answer or a failure; every 10 ms to look at the fence.
  while (awaited_pending_ > 0 && !failure_ && SystemClock::instance().now() < deadline) {
    if (fence && !fence->allows()) break;
    cv_.wait_for(lock.native(), std::chrono::milliseconds(10));
  }
  const bool all_answered = awaited_pending_ == 0;
  awaited_pending_ = 0;
  for (const auto t : tickets) answers_[t].awaited = false;
  if (!all_answered && failure_) throw Amqp10Error(url_ + ": " + *failure_);
  std::vector<SendAnswer> out;
  out.reserve(tickets.size());
  for (const auto t : tickets) {
    const auto it = answers_.find(t);
    out.push_back(it->second.answer);
    if (it->second.answer.kind != SendAnswer::Kind::kPending) answers_.erase(it);
  }
  return out;  // tickets still pending stay in answers_ as long as this client lives
}

void Client::close_gracefully(Millis timeout) {
  {
    MutexLock lock(mutex_);
    if (failure_) return;
  }
  try {
    inject([this] { handler_->close(); });
  } catch (const Amqp10Error&) {
    return;  // already closed
  }
  MutexLock lock(mutex_);
  cv_.wait_for(lock.native(), timeout, [this]() REQUIRES(mutex_) { return failure_.has_value(); });
}

}  // namespace mi::amqp10

#include "binders/amqp/amqp_binder.h"

#include <algorithm>
#include <map>

#include "amqp10/client.h"
#include "common/logging.h"
#include "config/key_table.h"
#include "workflow/fenced_publish.h"

namespace mi::binders {
namespace {

using amqp10::Amqp10Error;
using workflow::BindingError;
using workflow::Delivery;
using workflow::Message;
using workflow::SendOutcome;

constexpr Millis kConnectTimeout{10000};
constexpr Millis kCloseTimeout{2000};

// The brokers of a binding: `amqp.host` names one, or several separated by commas, each
// `host` or `host:port` (`[v6 address]:port`); amqp.port is the port of those without one.
// A binding connects to the first that answers, starting with the one it was last connected
// to, so that after a failover it stays with the broker that took over.
class Brokers {
 public:
  explicit Brokers(const config::BindingSettings& b) {
    const auto env = [&b](const std::string& key) { return config::environment_value(b, key); };
    bool tls = false;
    config::parse_bool(env("amqp.ssl.enabled"), tls);
    amqp10::Endpoint common;
    common.address.scheme = tls ? "amqps" : "amqp";
    common.username = env("amqp.username");
    common.password = env("amqp.password");
    common.msg_vpn = env("amqp.virtualhost");
    common.trust_store = env("amqp.ssl.truststore");
    long long idle_seconds = 20;
    config::parse_int(env("amqp.idletimeout"), idle_seconds);
    common.idle_timeout = Millis{idle_seconds * 1000};
    const int default_port = config::environment_port(b, "amqp.port", tls, 5671);
    const std::string key = "spring.cloud.stream.binders." + b.binder_name + ".environment.amqp.host";
    for (const auto& entry : config::split_comma_list(env("amqp.host"))) {
      amqp10::Endpoint e = common;
      std::string host = entry;
      std::string port;
      if (host.front() == '[') {  // [v6 address] or [v6 address]:port
        const auto close = host.find(']');
        if (close == std::string::npos) throw BindingError(b.name + ": " + key + ": '" + entry + "' lacks its ']'");
        if (close + 1 < host.size()) {
          if (host[close + 1] != ':') throw BindingError(b.name + ": " + key + ": '" + entry + "' is not [address]:port");
          port = host.substr(close + 2);
        }
        host = host.substr(1, close - 1);
      } else if (const auto colon = host.find(':'); colon != std::string::npos) {
        port = host.substr(colon + 1);
        host = host.substr(0, colon);
      }
      long long number = default_port;
      if (!port.empty() && (!config::parse_int(port, number) || number < 1 || number > 65535)) {
        throw BindingError(b.name + ": " + key + ": the port of '" + entry + "' must be 1 .. 65535");
      }
      if (host.empty()) throw BindingError(b.name + ": " + key + ": '" + entry + "' names no host");
      e.address.host = host;
      e.address.port = static_cast<int>(number);
      endpoints_.push_back(std::move(e));
    }
    if (endpoints_.empty()) throw BindingError(b.name + ": " + key + " names no broker");
  }

  // A client connected to one of the brokers, with `open_link` (receiver or sender) done on it;
  // Amqp10Error saying what each broker answered if none would.
  template <class OpenLink>
  std::unique_ptr<amqp10::Client> connect(OpenLink open_link) {
    std::string errors;
    for (size_t tried = 0; tried < endpoints_.size(); ++tried) {
      const amqp10::Endpoint& e = endpoints_[current_];
      try {
        auto client = std::make_unique<amqp10::Client>(e, kConnectTimeout);
        open_link(*client);
        return client;
      } catch (const Amqp10Error& error) {
        errors += (errors.empty() ? "" : "; ") + std::string(error.what());
        current_ = (current_ + 1) % endpoints_.size();
      }
    }
    throw Amqp10Error(errors);
  }
  // The broker connected to last (or to try first).
  const amqp10::Endpoint& current() const { return endpoints_[current_]; }

 private:
  std::vector<amqp10::Endpoint> endpoints_;
  size_t current_ = 0;
};

class AmqpInput final : public workflow::InputBinding {
 public:
  explicit AmqpInput(config::BindingSettings b) : binding_(std::move(b)), brokers_(binding_) {
    // Checked against the key table (a data size) before this runs.
    const auto it = binding_.options.find("consumer.maxmessagesize");
    long long bytes = 0;
    if (it != binding_.options.end() && config::parse_data_size(it->second, bytes) && bytes > 0) {
      max_message_size_ = static_cast<std::uint64_t>(bytes);
    }
  }

  void open() override { connect(); }

  std::optional<Delivery> receive(Millis timeout) override {
    if (!client_) connect();
    try {
      auto received = client_->receive(timeout);
      if (!received) return std::nullopt;
      // Tags of this input, not of the connection: after a reconnect, a late ack of a message
      // of the old connection must not settle a new one that got the same connection tag.
      const unsigned long long tag = next_tag_++;
      pending_.emplace(tag, received->tag);
      return Delivery{tag, Message{std::move(received->body), std::move(received->headers)}};
    } catch (const Amqp10Error& e) {
      drop();
      throw BindingError(binding_.name + ": " + e.what());
    }
  }

  void ack(const Delivery& d) override { settle(d, true); }
  void reject(const Delivery& d) override { settle(d, false); }

  void close() override {
    if (client_) client_->close_gracefully(kCloseTimeout);  // unsettled messages go back to the queue
    drop();
  }

 private:
  void connect() {
    try {
      client_ = brokers_.connect([this](amqp10::Client& client) {
        client.open_receiver(binding_.destination, std::clamp(binding_.in_flight_window, 1, 65535), kConnectTimeout,
                             max_message_size_);
      });
      logger("binder.amqp")->info("{}: receiving from '{}' on {} ({})", binding_.name,
                                  amqp10::queue_address(client_->product(), binding_.destination), brokers_.current().url(),
                                  client_->product().empty() ? "AMQP 1.0" : client_->product());
    } catch (const Amqp10Error& e) {
      drop();
      throw BindingError(binding_.name + ": " + e.what());
    }
  }

  void settle(const Delivery& d, bool accept) {
    const auto it = pending_.find(d.tag);
    if (it == pending_.end() || !client_) return;  // of a dropped connection: the broker delivers it again
    const std::uint64_t connection_tag = it->second;
    pending_.erase(it);
    try {
      if (accept) {
        client_->accept(connection_tag);
      } else {
        client_->release(connection_tag);
      }
    } catch (const Amqp10Error& e) {
      drop();
      throw BindingError(binding_.name + ": " + e.what());
    }
  }

  void drop() {
    client_.reset();  // unsettled messages stay with the broker
    pending_.clear();
  }

  const config::BindingSettings binding_;
  Brokers brokers_;
  std::uint64_t max_message_size_ = amqp10::Client::kDefaultMaxMessageSize;
  std::unique_ptr<amqp10::Client> client_;
  std::map<unsigned long long, std::uint64_t> pending_;  // input tag -> connection tag
  unsigned long long next_tag_ = 1;
};

// The AMQP 1.0 half of the fenced batch publish (workflow/fenced_publish.h): the broker's
// settlement of each message is its confirmation.
class AmqpOutput final : public workflow::OutputBinding, private workflow::PublishProtocol {
 public:
  explicit AmqpOutput(config::BindingSettings b) : binding_(std::move(b)), brokers_(binding_) {
    // A configuration error: thrown here, at start, rather than retried as an outage by open().
    if (binding_.destination.empty()) {
      throw BindingError(binding_.name + ": an amqp output needs a queue or address as destination");
    }
  }

  void open() override { connect(); }

  void send(const Message& m, const FencingGate* fence) override {
    workflow::send_as_batch_of_one(*this, m, fence, Millis{30000});
  }

  std::vector<SendOutcome> send_batch(const std::vector<const Message*>& messages, const FencingGate* fence,
                                      Millis timeout) override {
    return workflow::publish_fenced_batch(*this, messages, fence, timeout, "binder.amqp");
  }

  void close() override {
    if (client_) client_->close_gracefully(kCloseTimeout);
    client_.reset();
  }

 private:
  const std::string& binding_name() const override { return binding_.name; }

  void connect() override {
    if (client_) return;
    try {
      client_ = brokers_.connect(
          [this](amqp10::Client& client) { client.open_sender(binding_.destination, kConnectTimeout); });
      logger("binder.amqp")->info("{}: sending to '{}' on {} ({})", binding_.name,
                                  amqp10::queue_address(client_->product(), binding_.destination), brokers_.current().url(),
                                  client_->product().empty() ? "AMQP 1.0" : client_->product());
    } catch (const Amqp10Error& e) {
      client_.reset();
      throw BindingError(binding_.name + ": " + e.what());
    }
  }

  std::uint64_t write(const Message& m, const FencingGate* fence) override {
    if (!workflow::fence_allows(fence)) throw workflow::FencedError(workflow::kNotSentFenced.error);
    try {
      // Prepared here, off Proton's thread; the batch leaves in one hand-over from await().
      return client_->prepare_send(m.payload, m.headers, fence);
    } catch (const Amqp10Error& e) {
      throw BindingError(e.what());
    }
  }

  Answers await(const std::vector<std::uint64_t>& tickets, Millis timeout, const FencingGate* fence) override {
    Answers out;
    out.each.resize(tickets.size());
    std::vector<amqp10::SendAnswer> answers;
    try {
      client_->flush_sends();
      answers = client_->await(tickets, timeout, fence);
    } catch (const Amqp10Error& e) {
      out.end = Answers::End::kLost;
      out.error = e.what();
      return out;
    }
    bool pending = false;
    for (size_t i = 0; i < answers.size(); ++i) {
      switch (answers[i].kind) {
        case amqp10::SendAnswer::Kind::kAccepted:
          out.each[i].kind = Answer::Kind::kStored;
          break;
        case amqp10::SendAnswer::Kind::kRefused:
          out.each[i].kind = Answer::Kind::kRefused;
          out.each[i].text = answers[i].text;
          break;
        case amqp10::SendAnswer::Kind::kFenced:
          out.end = Answers::End::kFenced;
          out.error = answers[i].text;
          break;
        case amqp10::SendAnswer::Kind::kPending:
          pending = true;
          break;
      }
    }
    if (out.end == Answers::End::kComplete && pending) {
      if (!workflow::fence_allows(fence)) {
        out.end = Answers::End::kFenced;
        out.error = workflow::kNotSentFenced.error;
      } else {
        out.end = Answers::End::kLost;
        out.error = "the broker did not settle the message(s) within " + std::to_string(timeout.count()) + " ms";
      }
    }
    return out;
  }

  // Drops the connection: Proton's thread stops, and what it had not written is never sent.
  void reset() override { client_.reset(); }

  const config::BindingSettings binding_;
  Brokers brokers_;
  std::unique_ptr<amqp10::Client> client_;
};

}  // namespace

std::unique_ptr<workflow::InputBinding> AmqpBinder::create_input(const config::BindingSettings& s) {
  return std::make_unique<AmqpInput>(s);
}

std::unique_ptr<workflow::OutputBinding> AmqpBinder::create_output(const config::BindingSettings& s) {
  return std::make_unique<AmqpOutput>(s);
}

}  // namespace mi::binders

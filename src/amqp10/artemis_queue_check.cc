#include "amqp10/artemis_queue_check.h"

#include <proton/message_id.hpp>
#include <proton/scalar.hpp>

#include "amqp10/endpoint.h"
#include "common/bounded_json.h"
#include "common/printable.h"

namespace mi::amqp10 {
namespace {

// The queue attributes asked for (QueueControl's getters, by their JMX names).
const std::vector<std::string>& attributes() {
  static const std::vector<std::string> names = {"exclusive", "routingType", "address"};
  return names;
}

// A reply's body is a JSON array holding the value, e.g. `[true]`, `["ANYCAST"]`, or the
// error text: the value as text, or what the broker sent, made printable (and cut at a
// length no queue's address reaches).
constexpr std::size_t kMaxValueBytes = 1024;
std::string reply_value(const proton::message& message) {
  const std::string body = body_bytes(message).value_or(std::string());
  try {
    const nlohmann::json parsed = parse_bounded_json(body, 4);
    if (parsed.is_array() && parsed.size() == 1) {
      const auto& value = parsed[0];
      return printable(value.is_string() ? value.get<std::string>() : value.dump(), kMaxValueBytes);
    }
  } catch (const std::exception&) {
    // Not the JSON Artemis sends: shown as it came.
  }
  return printable(body, kMaxValueBytes);
}

std::string how_to_declare(const std::string& queue) {
  return "declare it in broker.xml before the instances start: <address name=\"" + queue +
         "\"><anycast><queue name=\"" + queue + "\" exclusive=\"true\"/></anycast></address> (README, \"On ActiveMQ Artemis\")";
}

}  // namespace

ArtemisQueueCheck::ArtemisQueueCheck(std::string queue) : queue_(std::move(queue)) {
  const auto separator = queue_.rfind("::");
  if (separator != std::string::npos) queue_ = queue_.substr(separator + 2);
}

std::vector<proton::message> ArtemisQueueCheck::requests(const std::string& reply_to) const {
  std::vector<proton::message> out;
  for (const auto& attribute : attributes()) {
    proton::message request;
    request.properties().put("_AMQ_ResourceName", "queue." + queue_);
    request.properties().put("_AMQ_Attribute", attribute);
    request.reply_to(reply_to);
    request.correlation_id(proton::message_id(attribute));  // Artemis copies it into its reply
    request.body(std::string("[]"));
    out.push_back(std::move(request));
  }
  return out;
}

void ArtemisQueueCheck::reply(const proton::message& message) {
  const proton::message_id id = message.correlation_id();
  if (id.type() != proton::STRING) return;
  const std::string attribute = proton::get<std::string>(id);
  bool asked = false;
  for (const auto& name : attributes()) asked = asked || name == attribute;
  if (!asked) return;
  Answer answer;
  const auto& properties = message.properties();
  const auto succeeded = properties.get("_AMQ_OperationSucceeded");
  answer.succeeded = succeeded.type() == proton::BOOLEAN && proton::get<bool>(succeeded);
  answer.value = reply_value(message);
  answers_[attribute] = std::move(answer);
}

void ArtemisQueueCheck::refused(const std::string& why) {
  if (!refused_) refused_ = why;
}

bool ArtemisQueueCheck::done() const { return refused_ || answers_.size() == attributes().size(); }

ArtemisQueueCheck::Verdict ArtemisQueueCheck::verdict() const {
  Verdict verdict;
  const std::string name = "management queue '" + queue_ + "'";
  if (refused_) {
    verdict.detail = "cannot check that " + name + " is an exclusive queue: the broker refused the question on its "
                     "management address " + std::string(kArtemisManagementAddress) + " (" + *refused_ +
                     "); not binding, since on a queue that is not exclusive two instances can be active at once. "
                     "Give the session's user the 'manage' permission on that address, and 'createNonDurableQueue' for "
                     "the reply queue (README, \"On ActiveMQ Artemis\")";
    return verdict;
  }
  if (!done()) {
    verdict.detail = "the check of " + name + " is not finished";
    return verdict;
  }
  const Answer& exclusive = answers_.at("exclusive");
  const Answer& routing = answers_.at("routingType");
  const Answer& address = answers_.at("address");
  if (!exclusive.succeeded || !routing.succeeded || !address.succeeded) {
    const Answer& failed = !exclusive.succeeded ? exclusive : (!routing.succeeded ? routing : address);
    verdict.detail = "the broker has no queue named '" + queue_ + "' (it answered: " + failed.value +
                     "); not binding: attaching to it would make Artemis create it as a multicast address "
                     "(auto-create-addresses), on which every instance gets every token and two can be active at "
                     "once; " + how_to_declare(queue_);
    return verdict;
  }
  if (routing.value != "ANYCAST") {
    verdict.detail = name + " is a " + routing.value + " queue; not binding: the tokens must go to one consumer, so it "
                     "must be anycast and exclusive; " + how_to_declare(queue_);
    return verdict;
  }
  if (exclusive.value != "true") {
    verdict.detail = name + " is not exclusive; not binding: its consumers would get the tokens in turn and two "
                     "instances could be active at once; " + how_to_declare(queue_);
    return verdict;
  }
  verdict.usable = true;
  verdict.address = address.value + "::" + queue_;
  verdict.detail = name + " is an exclusive anycast queue on address '" + address.value + "'";
  return verdict;
}

}  // namespace mi::amqp10

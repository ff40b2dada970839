#include "workflow/binder.h"

namespace mi::workflow {

std::vector<SendOutcome> OutputBinding::send_batch(const std::vector<const Message*>& messages,
                                                   const FencingGate* fence, Millis /*timeout*/) {
  std::vector<SendOutcome> outcomes(messages.size());
  for (std::size_t i = 0; i < messages.size(); ++i) {
    try {
      send(*messages[i], fence);
      outcomes[i] = {SendResult::kDelivered, {}};
      continue;
    } catch (const FencedError& e) {
      outcomes[i] = {SendResult::kFenced, e.what()};
    } catch (const RefusedError& e) {
      outcomes[i] = {SendResult::kRefused, e.what()};
      continue;  // only this message is affected
    } catch (const std::exception& e) {
      outcomes[i] = {SendResult::kUnavailable, e.what()};
    }
    // Fenced or unavailable: the rest is not sent.
    for (std::size_t j = i + 1; j < messages.size(); ++j) {
      outcomes[j] = {outcomes[i].result, "not sent: an earlier message of the batch failed"};
    }
    break;
  }
  return outcomes;
}

void send_as_batch_of_one(OutputBinding& output, const Message& message, const FencingGate* fence, Millis timeout) {
  const SendOutcome outcome = output.send_batch({&message}, fence, timeout).front();
  switch (outcome.result) {
    case SendResult::kDelivered: return;
    case SendResult::kFenced: throw FencedError(outcome.error);
    case SendResult::kRefused: throw RefusedError(outcome.error);
    case SendResult::kUnavailable: throw BindingError(outcome.error);
  }
}

void BinderRegistry::add(std::unique_ptr<Binder> binder) {
  const std::string type = binder->type();
  binders_[type] = std::move(binder);
}

Binder* BinderRegistry::find(const std::string& type) const {
  auto it = binders_.find(type);
  return it == binders_.end() ? nullptr : it->second.get();
}

std::set<std::string> BinderRegistry::types() const {
  std::set<std::string> out;
  for (const auto& [type, binder] : binders_) out.insert(type);
  return out;
}

}  // namespace mi::workflow

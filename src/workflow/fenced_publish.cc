#include "workflow/fenced_publish.h"

#include <optional>

#include "common/logging.h"

namespace mi::workflow {

std::vector<SendOutcome> publish_fenced_batch(PublishProtocol& protocol, const std::vector<const Message*>& messages,
                                              const FencingGate* fence, Millis timeout, const char* component) {
  const std::string& name = protocol.binding_name();
  std::vector<SendOutcome> outcomes(messages.size(), SendOutcome{SendResult::kUnavailable, ""});
  try {
    protocol.connect();
  } catch (const BindingError& e) {
    for (auto& o : outcomes) o.error = e.what();
    return outcomes;
  }
  // Gives up on the connection: every message without an answer gets `result`.
  auto give_up = [&](SendResult result, const std::string& why) {
    logger(component)->warn("{}: {}; connection reset so that none of the unanswered messages arrives late", name,
                            why);
    protocol.reset();
    for (auto& o : outcomes) {
      if (o.result == SendResult::kUnavailable) o = {result, name + ": " + why};
    }
  };

  std::vector<std::uint64_t> tickets;
  std::vector<std::size_t> written;  // the message index behind each ticket
  std::optional<std::string> lost;   // the connection failed while writing
  for (std::size_t i = 0; i < messages.size(); ++i) {
    if (!fence_allows(fence)) {
      for (std::size_t j = i; j < messages.size(); ++j) outcomes[j] = kNotSentFenced;
      break;
    }
    try {
      tickets.push_back(protocol.write(*messages[i], fence));
      written.push_back(i);
    } catch (const FencedError& e) {
      // The lease ran out while the message was written (the process was paused?). The
      // batch's earlier messages may or may not have arrived; they stay at the input and
      // come again from the next active instance (at worst a duplicate).
      give_up(SendResult::kFenced, e.what());
      return outcomes;
    } catch (const RefusedError& e) {
      outcomes[i] = {SendResult::kRefused, name + ": " + e.what()};
    } catch (const BindingError& e) {
      lost = e.what();  // the rest stays unsent; collect what was answered anyway
      break;
    }
  }
  if (!tickets.empty()) {
    const auto answers = protocol.await(tickets, timeout, fence);
    for (std::size_t k = 0; k < written.size() && k < answers.each.size(); ++k) {
      const auto& a = answers.each[k];
      if (a.kind == PublishProtocol::Answer::Kind::kStored) {
        outcomes[written[k]] = {SendResult::kDelivered, ""};
      } else if (a.kind == PublishProtocol::Answer::Kind::kRefused) {
        outcomes[written[k]] = {SendResult::kRefused, name + ": " + a.text};
      }
    }
    if (answers.end == PublishProtocol::Answers::End::kFenced) {
      give_up(SendResult::kFenced, answers.error);
      return outcomes;
    }
    if (answers.end == PublishProtocol::Answers::End::kLost && !lost) {
      const bool this_message = answers.blames_the_message && messages.size() == 1;
      give_up(this_message ? SendResult::kRefused : SendResult::kUnavailable, answers.error);
      return outcomes;
    }
  }
  if (lost) give_up(SendResult::kUnavailable, *lost);
  return outcomes;
}

}  // namespace mi::workflow

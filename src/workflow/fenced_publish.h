#pragma once
// The one fenced batch publish that every pipelining output (rabbit publisher confirms, MQTT
// PUBACKs) uses: the binder supplies the protocol (connect, write one message, wait for
// answers, reset), publish_fenced_batch() holds the rules for what is fenced, refused and
// unavailable:
//
//   - The fence is asked right before each message, and the protocol asks it again once the
//     message is written (common/fenced_write.h): a process frozen mid-batch sends nothing of
//     the rest when it resumes after its lease ran out.
//   - Not sent because the fence was closed: kFenced. Not sent because the connection failed:
//     kUnavailable.
//   - The fence closed while a message was written or answers were awaited: the connection is
//     reset (so nothing still queued arrives late, after the next term's messages) and every
//     message without an answer is kFenced.
//   - The connection failed or the answers timed out: reset, and every message without an
//     answer is kUnavailable, except that a failure the protocol blames on the message is
//     kRefused when the batch had only that message (in a batch the workflow retries one at a
//     time to find out which).
//   - A message the broker refuses (returned, nacked, too large) is kRefused; the others go on.
#include <cstdint>
#include <string>
#include <vector>

#include "workflow/binder.h"

namespace mi::workflow {

class PublishProtocol {
 public:
  virtual ~PublishProtocol() = default;

  // For messages: the binding's name ("output-0").
  virtual const std::string& binding_name() const = 0;
  // Connects unless connected; throws BindingError.
  virtual void connect() = 0;
  // Writes one message and returns a ticket to await. The message leaves only if `fence` is
  // still open once it is written. Throws FencedError if it was not (nothing of it leaves),
  // RefusedError if the broker will not take this message and nothing was sent, BindingError
  // if the connection failed.
  virtual std::uint64_t write(const Message& message, const FencingGate* fence) = 0;

  struct Answer {
    enum class Kind { kPending, kStored, kRefused } kind = Kind::kPending;
    std::string text;  // for kRefused: the broker's reason
  };
  struct Answers {
    std::vector<Answer> each;  // one per ticket, in order
    enum class End { kComplete, kFenced, kLost } end = End::kComplete;
    std::string error;                // for kFenced and kLost
    bool blames_the_message = false;  // kLost: the failure concerns the message(s) awaited
  };
  // Waits up to `timeout`, and no longer than `fence` stays open, for the tickets' answers.
  virtual Answers await(const std::vector<std::uint64_t>& tickets, Millis timeout, const FencingGate* fence) = 0;
  // Drops the connection with a TCP reset: whatever the kernel still holds never leaves.
  virtual void reset() = 0;
};

// One outcome per message, in order; `component` names the logger ("binder.rabbit").
std::vector<SendOutcome> publish_fenced_batch(PublishProtocol& protocol, const std::vector<const Message*>& messages,
                                              const FencingGate* fence, Millis timeout, const char* component);

}  // namespace mi::workflow

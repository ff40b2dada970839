#pragma once
// The seam between the workflow engine and the systems it connects. A binder type (file,
// and later rabbit, mqtt) creates input and output bindings from a binding's settings.
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/fencing_gate.h"
#include "config/settings.h"

namespace mi::workflow {

struct Message {
  std::string payload;                         // bytes, passed through unchanged
  std::map<std::string, std::string> headers;  // e.g. file_name, content-type
};

struct Delivery {
  unsigned long long tag = 0;  // identifies the message to ack/reject on its input
  Message message;
};

// Binders report expected failures (missing directory, broker gone) with this.
class BindingError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The fencing gate closed before the message became visible; it stays at the input.
class FencedError : public BindingError {
 public:
  using BindingError::BindingError;
};

// The output's broker refused this particular message (unroutable, too large, nacked): the
// connection is fine and other messages may pass. Any other BindingError from an output
// means the output itself is unavailable.
class RefusedError : public BindingError {
 public:
  using BindingError::BindingError;
};

enum class SendResult {
  kDelivered,    // durably stored / confirmed
  kFenced,       // not sent: leadership was not confirmed
  kRefused,      // the broker refused this message; retry it, then dead-letter it
  kUnavailable,  // the output is down or did not confirm in time; not known to be stored
};

struct SendOutcome {
  SendResult result = SendResult::kUnavailable;
  std::string error;  // why, unless delivered
};

// The outcome of a message an output did not send because the fence was closed.
inline const SendOutcome kNotSentFenced{SendResult::kFenced, "leadership not confirmed; message not published"};

// True if `fence` (null: none) lets a message be sent now.
inline bool fence_allows(const FencingGate* fence) {
  return !fence || fence->allows();
}

class InputBinding {
 public:
  virtual ~InputBinding() = default;
  virtual void open() = 0;
  // Waits up to `timeout` for the next message; nothing if none arrived.
  virtual std::optional<Delivery> receive(Millis timeout) = 0;
  // The output has stored the message: the input may forget it.
  virtual void ack(const Delivery& delivery) = 0;
  // The output failed: the input keeps the message for a later attempt.
  virtual void reject(const Delivery& delivery) = 0;
  // Moves a message the output keeps refusing to the input's dead-letter destination and
  // acknowledges it. False (message untouched) if the binding has no such destination;
  // throws BindingError if it has one but could not store the message there.
  virtual bool dead_letter(const Delivery&, const std::string& /*reason*/) { return false; }
  // Moves a message that crashed the process (poison_guard.h) out of the way and settles it:
  // its dead-letter destination where it has one; the file binder's <spool>/.rejected/.
  // Same results as dead_letter.
  virtual bool set_aside(const Delivery& delivery, const std::string& reason) { return dead_letter(delivery, reason); }
  virtual void close() = 0;
};

class OutputBinding {
 public:
  virtual ~OutputBinding() = default;
  virtual void open() = 0;
  // Returns only once the message is durably stored; throws BindingError otherwise.
  // `fence` (null: none) is checked right before the step that makes the message visible
  // (a rename, a publish); if it is closed by then the message is not sent and FencedError
  // is thrown, so a process that was frozen mid-send does not finish the send after it lost
  // its leadership.
  virtual void send(const Message& message, const FencingGate* fence) = 0;
  // Sends several messages and waits up to `timeout` for all of them to be stored; one
  // outcome per message, in order. Outputs that can pipeline (publisher confirms, PUBACK)
  // override this; the default sends one by one and stops at the first failure (the rest
  // are reported unavailable, not sent).
  virtual std::vector<SendOutcome> send_batch(const std::vector<const Message*>& messages, const FencingGate* fence,
                                              Millis timeout);
  virtual void close() = 0;
};

// send() for outputs whose real work is in send_batch: one message, outcome as exception.
void send_as_batch_of_one(OutputBinding& output, const Message& message, const FencingGate* fence, Millis timeout);

class Binder {
 public:
  virtual ~Binder() = default;
  virtual std::string type() const = 0;
  virtual std::unique_ptr<InputBinding> create_input(const config::BindingSettings& settings) = 0;
  virtual std::unique_ptr<OutputBinding> create_output(const config::BindingSettings& settings) = 0;
};

// Binder types by name. Registration is explicit (in the composition root), so a test can
// register a fake binder and no static initialiser is lost to the linker.
class BinderRegistry {
 public:
  void add(std::unique_ptr<Binder> binder);
  Binder* find(const std::string& type) const;
  std::set<std::string> types() const;

 private:
  std::map<std::string, std::unique_ptr<Binder>> binders_;
};

}  // namespace mi::workflow

#pragma once
// The seam between the workflow engine and the systems it connects. A binder type (file,
// and later rabbit, mqtt) creates input and output bindings from a binding's settings.
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>

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
  virtual void close() = 0;
};

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

#pragma once
// What kind of queue the management queue is on ActiveMQ Artemis, asked before an instance
// binds to it. The token protocol needs a queue that gives each token to one consumer: on
// Artemis an anycast queue declared exclusive. Artemis creates a missing address when a
// client attaches to it (auto-create-addresses, on by default) as a *multicast* address, on
// which every consumer gets its own copy of every token; two instances on one were seen
// active at once. A non-exclusive anycast queue hands tokens out in turn, which the protocol
// does not survive either. So on Artemis the session asks the broker's management address
// (a request per attribute, answered on a dynamic reply queue) and binds only to a queue
// that exists, is anycast and is exclusive; it then attaches by the queue's fully qualified
// name `<address>::<queue>`, so that no other queue on the same address shares the tokens.
//
// This class holds no connection: it builds the requests and judges the replies, so that the
// judgement is tested without a broker; the session carries the messages.
#include <proton/message.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mi::amqp10 {

// The product name Artemis gives in its Open frame.
inline constexpr const char* kArtemisProduct = "apache-activemq-artemis";
// Where Artemis takes management requests (its `management-address`, by default).
inline constexpr const char* kArtemisManagementAddress = "activemq.management";

class ArtemisQueueCheck {
 public:
  // `queue`: the configured management queue name (a fully qualified `address::queue` names
  // its queue after the `::`).
  explicit ArtemisQueueCheck(std::string queue);

  // The requests to send to kArtemisManagementAddress, each answered on `reply_to`.
  std::vector<proton::message> requests(const std::string& reply_to) const;

  // A message that came back on the reply queue; replies to nothing asked are ignored.
  void reply(const proton::message& message);
  // The broker refused a request (rejected it, or the links for asking); `why` says how.
  void refused(const std::string& why);
  // Whether every request was answered or one was refused: verdict() is then final.
  bool done() const;

  struct Verdict {
    bool usable = false;
    std::string address;  // to attach to, when usable: `<address>::<queue>`
    std::string detail;   // for the log and the health detail
  };
  Verdict verdict() const;

 private:
  struct Answer {
    bool succeeded = false;
    std::string value;  // the attribute's value (true, ANYCAST, the address), or the broker's error text
  };

  std::string queue_;
  std::map<std::string, Answer> answers_;  // by attribute
  std::optional<std::string> refused_;
};

}  // namespace mi::amqp10

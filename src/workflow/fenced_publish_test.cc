#include "workflow/fenced_publish.h"

#include <gtest/gtest.h>

#include <functional>

namespace mi::workflow {
namespace {

using Kind = PublishProtocol::Answer::Kind;
using End = PublishProtocol::Answers::End;

// A protocol whose every step the test scripts.
class ScriptedProtocol final : public PublishProtocol {
 public:
  const std::string& binding_name() const override { return name; }
  void connect() override {
    if (!connect_error.empty()) throw BindingError(connect_error);
  }
  std::uint64_t write(const Message& message, const FencingGate*) override {
    writes.push_back(message.payload);
    if (on_write) on_write(message.payload);
    return writes.size();
  }
  Answers await(const std::vector<std::uint64_t>& tickets, Millis, const FencingGate*) override {
    awaited = tickets;
    Answers out = answers;
    out.each.resize(tickets.size(), Answer{answer_for_rest, ""});
    return out;
  }
  void reset() override { ++resets; }

  std::string name = "output-0";
  std::string connect_error;
  std::function<void(const std::string&)> on_write;  // may throw
  Answers answers;                                   // leading answers, and how the wait ended
  Kind answer_for_rest = Kind::kStored;
  std::vector<std::string> writes;
  std::vector<std::uint64_t> awaited;
  int resets = 0;
};

class FencedPublish : public ::testing::Test {
 protected:
  FencedPublish() { gate.open_until(std::chrono::steady_clock::now() + std::chrono::hours(1), 1); }

  std::vector<SendResult> publish(std::size_t count) {
    messages.clear();
    for (std::size_t i = 0; i < count; ++i) messages.push_back({"m" + std::to_string(i), {}});
    std::vector<const Message*> pointers;
    for (const auto& m : messages) pointers.push_back(&m);
    outcomes = publish_fenced_batch(protocol, pointers, &gate, Millis{1000}, "workflow");
    std::vector<SendResult> results;
    for (const auto& o : outcomes) results.push_back(o.result);
    return results;
  }

  ScriptedProtocol protocol;
  FencingGate gate;
  std::vector<Message> messages;
  std::vector<SendOutcome> outcomes;
};

using R = SendResult;

TEST_F(FencedPublish, EveryMessageAnsweredIsDelivered) {
  EXPECT_EQ(publish(3), (std::vector<R>{R::kDelivered, R::kDelivered, R::kDelivered}));
  EXPECT_EQ(protocol.awaited, (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ(protocol.resets, 0);
}

TEST_F(FencedPublish, ACannotConnectLeavesEveryMessageUnavailableWithTheReason) {
  protocol.connect_error = "output-0: amqp://h:5672: connection refused";
  EXPECT_EQ(publish(2), (std::vector<R>{R::kUnavailable, R::kUnavailable}));
  EXPECT_EQ(outcomes[0].error, protocol.connect_error);
  EXPECT_TRUE(protocol.writes.empty());
}

TEST_F(FencedPublish, AFenceClosedBeforeAMessageSendsNoneOfTheRestAndAwaitsTheWritten) {
  protocol.on_write = [&](const std::string& payload) {
    if (payload == "m0") gate.close();
  };
  EXPECT_EQ(publish(3), (std::vector<R>{R::kDelivered, R::kFenced, R::kFenced}));
  EXPECT_EQ(protocol.writes, std::vector<std::string>{"m0"});
  EXPECT_EQ(protocol.resets, 0) << "nothing unanswered was written";
}

TEST_F(FencedPublish, AFenceClosedWhileWritingResetsAndFencesEveryUnansweredMessage) {
  protocol.on_write = [&](const std::string& payload) {
    if (payload == "m1") throw FencedError("lease ran out while writing");
  };
  EXPECT_EQ(publish(3), (std::vector<R>{R::kFenced, R::kFenced, R::kFenced}));
  EXPECT_EQ(protocol.resets, 1);
  EXPECT_TRUE(protocol.awaited.empty()) << "m0 may or may not have arrived: it stays at the input";
}

TEST_F(FencedPublish, AMessageRefusedBeforeSendingIsRefusedAloneAndTheOthersGoOn) {
  protocol.on_write = [&](const std::string& payload) {
    if (payload == "m1") throw RefusedError("packet too large");
  };
  EXPECT_EQ(publish(3), (std::vector<R>{R::kDelivered, R::kRefused, R::kDelivered}));
  EXPECT_EQ(outcomes[1].error, "output-0: packet too large");
  EXPECT_EQ(protocol.resets, 0);
}

TEST_F(FencedPublish, AConnectionLostWhileWritingKeepsTheAnswersThatCameAndResets) {
  protocol.on_write = [&](const std::string& payload) {
    if (payload == "m1") throw BindingError("socket closed");
  };
  EXPECT_EQ(publish(3), (std::vector<R>{R::kDelivered, R::kUnavailable, R::kUnavailable}));
  EXPECT_EQ(protocol.awaited, std::vector<std::uint64_t>{1});
  EXPECT_EQ(protocol.resets, 1);
  EXPECT_EQ(outcomes[2].error, "output-0: socket closed");
}

TEST_F(FencedPublish, AFenceClosedWhileAwaitingResetsAndFencesWhatWasNotAnswered) {
  protocol.answers.each = {{Kind::kStored, ""}, {Kind::kRefused, "NO_ROUTE"}};
  protocol.answers.end = End::kFenced;
  protocol.answers.error = "leadership lease ran out while confirms were missing";
  protocol.answer_for_rest = Kind::kPending;
  EXPECT_EQ(publish(4), (std::vector<R>{R::kDelivered, R::kRefused, R::kFenced, R::kFenced}));
  EXPECT_EQ(protocol.resets, 1);
}

TEST_F(FencedPublish, AFailureBlamedOnTheMessageIsARefusalOnlyWhenItWasAlone) {
  protocol.answers.end = End::kLost;
  protocol.answers.error = "PRECONDITION_FAILED - message size exceeds max_message_size";
  protocol.answers.blames_the_message = true;
  protocol.answer_for_rest = Kind::kPending;
  EXPECT_EQ(publish(1), (std::vector<R>{R::kRefused}));
  EXPECT_EQ(protocol.resets, 1);
  EXPECT_EQ(publish(2), (std::vector<R>{R::kUnavailable, R::kUnavailable})) << "which one, the workflow finds out";
  protocol.answers.blames_the_message = false;
  EXPECT_EQ(publish(1), (std::vector<R>{R::kUnavailable}));
}

}  // namespace
}  // namespace mi::workflow

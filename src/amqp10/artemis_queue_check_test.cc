#include "amqp10/artemis_queue_check.h"

#include <gtest/gtest.h>
#include <proton/message_id.hpp>
#include <proton/scalar.hpp>

namespace mi::amqp10 {
namespace {

// A reply as Artemis sends it: the request's correlation id, _AMQ_OperationSucceeded and a
// JSON array body.
proton::message reply(const std::string& attribute, bool succeeded, const std::string& body) {
  proton::message message;
  message.correlation_id(proton::message_id(attribute));
  message.properties().put("_AMQ_OperationSucceeded", succeeded);
  message.body(body);
  return message;
}

ArtemisQueueCheck answered(const std::string& exclusive, const std::string& routing, bool found = true) {
  ArtemisQueueCheck check("mgmt");
  check.reply(reply("exclusive", found, found ? "[" + exclusive + "]" : "[\"Problem while retrieving attribute exclusive\"]"));
  check.reply(reply("routingType", found, found ? "[\"" + routing + "\"]" : "[\"Problem\"]"));
  check.reply(reply("address", found, found ? "[\"mgmt-address\"]" : "[\"Problem\"]"));
  return check;
}

TEST(ArtemisQueueCheck, AsksForEachAttributeOfTheQueueWithAReplyAddress) {
  const ArtemisQueueCheck check("mgmt");
  const auto requests = check.requests("reply-queue-1");
  ASSERT_EQ(requests.size(), 3u);
  for (const auto& request : requests) {
    EXPECT_EQ(request.reply_to(), "reply-queue-1");
    EXPECT_EQ(proton::get<std::string>(request.properties().get("_AMQ_ResourceName")), "queue.mgmt");
    EXPECT_EQ(proton::get<std::string>(request.properties().get("_AMQ_Attribute")),
              proton::get<std::string>(request.correlation_id()));
  }
}

TEST(ArtemisQueueCheck, AFullyQualifiedNameIsCheckedByItsQueue) {
  const ArtemisQueueCheck check("orders::mgmt");
  EXPECT_EQ(proton::get<std::string>(check.requests("r")[0].properties().get("_AMQ_ResourceName")), "queue.mgmt");
}

TEST(ArtemisQueueCheck, AnExclusiveAnycastQueueIsUsedByItsFullyQualifiedName) {
  const auto check = answered("true", "ANYCAST");
  ASSERT_TRUE(check.done());
  const auto verdict = check.verdict();
  EXPECT_TRUE(verdict.usable) << verdict.detail;
  EXPECT_EQ(verdict.address, "mgmt-address::mgmt");
}

TEST(ArtemisQueueCheck, NotExclusiveIsRefusedAndSaysHowToDeclareIt) {
  const auto verdict = answered("false", "ANYCAST").verdict();
  EXPECT_FALSE(verdict.usable);
  EXPECT_NE(verdict.detail.find("is not exclusive"), std::string::npos) << verdict.detail;
  EXPECT_NE(verdict.detail.find("exclusive=\"true\""), std::string::npos) << verdict.detail;
}

TEST(ArtemisQueueCheck, AMulticastQueueIsRefused) {
  const auto verdict = answered("true", "MULTICAST").verdict();
  EXPECT_FALSE(verdict.usable);
  EXPECT_NE(verdict.detail.find("is a MULTICAST queue"), std::string::npos) << verdict.detail;
}

TEST(ArtemisQueueCheck, AMissingQueueIsRefusedWithTheBrokersAnswer) {
  const auto verdict = answered("", "", false).verdict();
  EXPECT_FALSE(verdict.usable);
  EXPECT_NE(verdict.detail.find("has no queue named 'mgmt'"), std::string::npos) << verdict.detail;
  EXPECT_NE(verdict.detail.find("Problem while retrieving attribute exclusive"), std::string::npos) << verdict.detail;
}

TEST(ArtemisQueueCheck, ARefusedQuestionRefusesTheQueueAndNamesThePermission) {
  ArtemisQueueCheck check("mgmt");
  check.reply(reply("exclusive", true, "[true]"));
  EXPECT_FALSE(check.done());
  check.refused("amqp:unauthorized-access: no manage permission");
  ASSERT_TRUE(check.done());
  const auto verdict = check.verdict();
  EXPECT_FALSE(verdict.usable);
  EXPECT_NE(verdict.detail.find("'manage' permission"), std::string::npos) << verdict.detail;
  EXPECT_NE(verdict.detail.find("no manage permission"), std::string::npos) << verdict.detail;
}

TEST(ArtemisQueueCheck, HostileRepliesAreIgnoredOrShownPrintable) {
  ArtemisQueueCheck check("mgmt");
  check.reply(reply("somethingElse", true, "[true]"));  // not asked
  proton::message no_id;
  no_id.body(std::string("[true]"));
  check.reply(no_id);
  EXPECT_FALSE(check.done());
  check.reply(reply("exclusive", true, "[[[[[[[[[[true]]]]]]]]]]"));  // deeper than a reply nests
  check.reply(reply("routingType", true, "[\"ANYCAST\\n2026 forged log line\"]"));
  check.reply(reply("address", true, "not json"));
  ASSERT_TRUE(check.done());
  const auto verdict = check.verdict();
  EXPECT_FALSE(verdict.usable);
  EXPECT_EQ(verdict.detail.find('\n'), std::string::npos) << verdict.detail;
}

}  // namespace
}  // namespace mi::amqp10

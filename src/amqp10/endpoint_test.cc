#include "amqp10/endpoint.h"

#include <gtest/gtest.h>
#include <proton/binary.hpp>

namespace mi::amqp10 {
namespace {

TEST(Amqp10Endpoint, RabbitMqTakesAnExistingQueueByItsAmqQueueAddressOthersByName) {
  EXPECT_EQ(queue_address("RabbitMQ", "mgmt"), "/amq/queue/mgmt");
  EXPECT_EQ(queue_address("", "mgmt"), "mgmt");
  EXPECT_EQ(queue_address("ActiveMQ", "mgmt"), "mgmt");
  EXPECT_EQ(queue_address("RabbitMQ", "/exchange/orders/eu"), "/exchange/orders/eu");  // as given
}

TEST(Amqp10Endpoint, BodiesAreReadAsBytesWhateverSectionCarriesThem) {
  proton::message text(std::string("token"));
  EXPECT_EQ(body_bytes(text), "token");
  proton::message binary;
  binary.body(proton::binary(std::string("a\0b", 3)));
  EXPECT_EQ(body_bytes(binary), std::string("a\0b", 3));
  proton::message number;
  number.body(42);
  EXPECT_FALSE(body_bytes(number));
}

TEST(Amqp10Endpoint, ARedeliveryCountsOnlyWhenItIsCertain) {
  proton::message fresh(std::string("t"));
  fresh.first_acquirer(true);
  EXPECT_FALSE(certainly_redelivered("RabbitMQ", fresh));
  proton::message taken_back(std::string("t"));
  taken_back.first_acquirer(false);  // RabbitMQ: its redelivered flag
  EXPECT_TRUE(certainly_redelivered("RabbitMQ", taken_back));
  // Elsewhere first-acquirer false is only "may have been acquired", and what no header
  // reads as: a claim then waits out a lease.
  EXPECT_FALSE(certainly_redelivered("", taken_back));
  EXPECT_FALSE(certainly_redelivered("AnotherBroker", proton::message(std::string("t"))));
  proton::message counted(std::string("t"));
  counted.delivery_count(1);
  EXPECT_TRUE(certainly_redelivered("AnotherBroker", counted));
}

TEST(Amqp10Endpoint, ALoginRefusedOrUnansweredSaysToCheckTheCredentials) {
  const proton::error_condition refused("amqp:unauthorized-access", "Authentication failed [mech=PLAIN]");
  EXPECT_EQ(describe_transport_error(refused, /*opened=*/false, "u and p"),
            "amqp:unauthorized-access: Authentication failed [mech=PLAIN] (check u and p)");
  const proton::error_condition idle("amqp:resource-limit-exceeded", "local-idle-timeout expired");
  EXPECT_EQ(describe_transport_error(idle, /*opened=*/false, "u and p"),
            "no answer to the login within the idle-timeout (a broker may hold back its answer to a refused login: "
            "check u and p)");
  // Once open, it is what it says: the broker went silent.
  EXPECT_EQ(describe_transport_error(idle, /*opened=*/true, "u and p"),
            "amqp:resource-limit-exceeded: local-idle-timeout expired");
  EXPECT_EQ(describe(proton::error_condition()), "no reason given");
}

TEST(Amqp10Endpoint, TheUrlNeverCarriesCredentials) {
  Endpoint e;
  e.address = {"amqps", "broker", 5671, ""};
  e.username = "user";
  e.password = "secret";
  EXPECT_EQ(e.url(), "amqps://broker:5671");
}

}  // namespace
}  // namespace mi::amqp10

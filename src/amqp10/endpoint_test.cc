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

TEST(Amqp10Endpoint, TheUrlNeverCarriesCredentials) {
  Endpoint e;
  e.address = {"amqps", "broker", 5671, ""};
  e.username = "user";
  e.password = "secret";
  EXPECT_EQ(e.url(), "amqps://broker:5671");
}

}  // namespace
}  // namespace mi::amqp10

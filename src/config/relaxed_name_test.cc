#include "config/relaxed_name.h"

#include <gtest/gtest.h>

namespace mi::config {
namespace {

TEST(RelaxedName, CamelKebabAndSnakeCaseAreTheSameKey) {
  EXPECT_EQ(canonical_key("solace.connector.management.session.msgVpn"),
            canonical_key("solace.connector.management.session.msg-vpn"));
  EXPECT_EQ(canonical_key("solace.connector.management.session.msg_vpn"),
            canonical_key("solace.connector.management.session.MSGVPN"));
}

TEST(RelaxedName, ListIndexesBecomeSegments) {
  EXPECT_EQ(canonical_key("solace.connector.security.users[0].name"),
            "solace.connector.security.users.0.name");
  EXPECT_EQ(canonical_key("a.b[12]"), "a.b.12");
}

TEST(RelaxedName, EnvironmentVariablesMapLikeSpring) {
  EXPECT_EQ(key_from_environment_variable("SOLACE_CONNECTOR_MANAGEMENT_LEADERELECTION_MODE"),
            canonical_key("solace.connector.management.leader-election.mode"));
  EXPECT_EQ(key_from_environment_variable("SOLACE_CONNECTOR_WORKFLOWS_0_ENABLED"),
            "solace.connector.workflows.0.enabled");
  EXPECT_EQ(key_from_environment_variable("SPRING_CLOUD_STREAM_BINDINGS_INPUT0_DESTINATION"),
            canonical_key("spring.cloud.stream.bindings.input-0.destination"));
  EXPECT_FALSE(key_from_environment_variable("PATH").has_value());
  EXPECT_FALSE(key_from_environment_variable("HOME").has_value());
}

TEST(RelaxedName, CredentialKeysAreSecret) {
  EXPECT_TRUE(is_secret_key(canonical_key("solace.connector.management.session.client-password")));
  EXPECT_TRUE(is_secret_key(canonical_key("x.environment.spring.rabbitmq.password")));
  EXPECT_TRUE(is_secret_key(canonical_key("a.oauth.client-secret")));
  EXPECT_TRUE(is_secret_key(canonical_key("a.api-token")));
  EXPECT_FALSE(is_secret_key(canonical_key("a.client-username")));
  EXPECT_FALSE(is_secret_key(canonical_key("a.routing-key")));
}

}  // namespace
}  // namespace mi::config

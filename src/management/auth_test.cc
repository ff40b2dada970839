#include "management/auth.h"

#include <gtest/gtest.h>

namespace mi::management {
namespace {

// "Basic " + base64(user:password), encoded here by hand-checked values.
constexpr const char* kReaderOk = "Basic cmVhZGVyOnJlYWQtcHc=";   // reader:read-pw
constexpr const char* kAdminOk = "Basic YWRtaW46YWRtaW4tcHc=";    // admin:admin-pw
constexpr const char* kAdminBad = "Basic YWRtaW46d3Jvbmc=";       // admin:wrong

Authenticator make(bool enabled) {
  return Authenticator(enabled, {{"reader", "read-pw", {}}, {"admin", "admin-pw", {"admin"}}});
}

TEST(Base64, DecodesWithAndWithoutPadding) {
  std::string out;
  ASSERT_TRUE(decode_base64("YWRtaW46YWRtaW4tcHc=", out));
  EXPECT_EQ(out, "admin:admin-pw");
  ASSERT_TRUE(decode_base64("YWJj", out));
  EXPECT_EQ(out, "abc");
  ASSERT_TRUE(decode_base64("YQ==", out));
  EXPECT_EQ(out, "a");
  EXPECT_FALSE(decode_base64("not base64!", out));
  EXPECT_FALSE(decode_base64("", out));
}

TEST(Authenticator, RolesGiveReadOrAdmin) {
  const auto auth = make(true);
  EXPECT_EQ(auth.authenticate(kReaderOk), Access::kRead);
  EXPECT_EQ(auth.authenticate(kAdminOk), Access::kAdmin);
  EXPECT_EQ(auth.authenticate("basic YWRtaW46YWRtaW4tcHc="), Access::kAdmin);  // scheme is case-insensitive
}

TEST(Authenticator, WrongMissingOrMalformedCredentialsGiveNothing) {
  const auto auth = make(true);
  EXPECT_EQ(auth.authenticate(kAdminBad), Access::kNone);
  EXPECT_EQ(auth.authenticate(""), Access::kNone);
  EXPECT_EQ(auth.authenticate("Bearer abc"), Access::kNone);
  EXPECT_EQ(auth.authenticate("Basic %%%%"), Access::kNone);
  EXPECT_EQ(auth.authenticate("Basic YWRtaW4="), Access::kNone);  // "admin" without colon
}

TEST(Authenticator, NoUsersMeansNobodyGetsIn) {
  Authenticator auth(true, {});
  EXPECT_EQ(auth.authenticate(kAdminOk), Access::kNone);
}

TEST(Authenticator, DisabledSecurityLetsEveryoneChangeThings) {
  EXPECT_EQ(make(false).authenticate(""), Access::kAdmin);
}

}  // namespace
}  // namespace mi::management

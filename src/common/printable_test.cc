#include "common/printable.h"

#include <gtest/gtest.h>

namespace mi {
namespace {

TEST(Printable, ControlCharactersAreEscapedSoNoLineCanBeForged) {
  EXPECT_EQ(printable("closed\n2026-12-07 info [app] all fine\x1b[2J"),
            "closed\\x0a2026-12-07 info [app] all fine\\x1b[2J");
  EXPECT_EQ(printable(std::string("a\0b\x7f", 4)), "a\\x00b\\x7f");
}

TEST(Printable, OrdinaryTextAndUtf8PassUnchanged) {
  EXPECT_EQ(printable("NOT_FOUND - no queue 'grüße' in vhost '/'"), "NOT_FOUND - no queue 'grüße' in vhost '/'");
}

TEST(Printable, LongTextIsCutAndSaysHowLongItWas) {
  EXPECT_EQ(printable(std::string(1000, 'x'), 10), "xxxxxxxxxx... (1000 bytes)");
  EXPECT_EQ(printable(std::string(10, 'x'), 10), "xxxxxxxxxx");
}

}  // namespace
}  // namespace mi

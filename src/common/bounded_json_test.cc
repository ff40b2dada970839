#include "common/bounded_json.h"

#include <gtest/gtest.h>

namespace mi {
namespace {

std::string nested_arrays(int levels) { return std::string(static_cast<std::size_t>(levels), '[') + std::string(static_cast<std::size_t>(levels), ']'); }

TEST(BoundedJson, AcceptsNestingUpToTheBound) {
  EXPECT_EQ(parse_bounded_json(nested_arrays(3), 3).dump(), "[[[]]]");
  EXPECT_EQ(parse_bounded_json(R"({"a":{"b":[1]}})", 3)["a"]["b"][0], 1);
  EXPECT_EQ(parse_bounded_json("\"scalar\"", 0), "scalar");
}

TEST(BoundedJson, RefusesOneLevelMore) {
  EXPECT_THROW(parse_bounded_json(nested_arrays(4), 3), JsonTooDeep);
  EXPECT_THROW(parse_bounded_json(R"({"a":{"b":{"c":1}}})", 2), JsonTooDeep);
  EXPECT_THROW(parse_bounded_json(R"([{"a":[]}])", 2), JsonTooDeep);
}

// The shape that crashed the file binder: 200,000 levels in 400 KB. Refused while it is read,
// at the default bound, without recursion (this test would overflow the stack otherwise).
TEST(BoundedJson, RefusesTwoHundredThousandLevelsWithoutRecursing) {
  EXPECT_THROW(parse_bounded_json(nested_arrays(200'000)), JsonTooDeep);
  EXPECT_NO_THROW(parse_bounded_json(nested_arrays(kMaxJsonDepth)));
}

TEST(BoundedJson, MalformedInputIsStillAParseError) {
  EXPECT_THROW(parse_bounded_json("[1,"), nlohmann::json::parse_error);
  EXPECT_THROW(parse_bounded_json(""), nlohmann::json::parse_error);
}

}  // namespace
}  // namespace mi

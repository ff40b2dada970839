#include "binders/file/sidecar.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/bounded_json.h"

namespace mi::binders {
namespace {

TEST(Sidecar, StringsAsTheyAreOtherValuesAsTheirJsonText) {
  const auto headers = decode_sidecar(R"({"content-type": "text/plain", "n": 3, "ok": true, "list": [1, "a"]})");
  EXPECT_EQ(headers, (std::map<std::string, std::string>{
                         {"content-type", "text/plain"}, {"n", "3"}, {"ok", "true"}, {"list", R"([1,"a"])"}}));
}

TEST(Sidecar, WhatTheOutputWritesTheInputReadsBack) {
  const std::map<std::string, std::string> headers{{"file_name", "order-1"}, {"x", "line\nbreak \"quoted\""}, {"", ""}};
  EXPECT_EQ(decode_sidecar(encode_sidecar(headers)), headers);
}

TEST(Sidecar, InvalidUtf8InAHeaderIsReplacedNotRefused) {
  const auto text = encode_sidecar({{"k", std::string("a\xff" "b")}});
  EXPECT_EQ(decode_sidecar(text).at("k"), "a\xef\xbf\xbd" "b");
}

TEST(Sidecar, AValueThatIsNotAnObjectGivesNoHeaders) {
  EXPECT_TRUE(decode_sidecar("[1, 2, 3]").empty());
  EXPECT_TRUE(decode_sidecar("\"text\"").empty());
  EXPECT_TRUE(decode_sidecar("null").empty());
}

TEST(Sidecar, DeepNestingAndMalformedTextThrowWhatTheInputHandles) {
  EXPECT_THROW(decode_sidecar(R"({"k": )" + std::string(100'000, '[')), JsonTooDeep);
  EXPECT_THROW(decode_sidecar("{\"k\": "), nlohmann::json::exception);
  EXPECT_NO_THROW(decode_sidecar(R"({"k": )" + std::string(kMaxJsonDepth - 1, '[') + std::string(kMaxJsonDepth - 1, ']') + "}"));
}

}  // namespace
}  // namespace mi::binders

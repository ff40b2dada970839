#pragma once
// JSON from outsiders (spool sidecars, management API bodies) parsed with a bound on nesting.
// nlohmann's parser itself is iterative, but what walks a parsed value afterwards (dump(),
// comparisons, our own code) recurses once per level: 200,000 nested arrays in a 400 KB file
// overflowed a worker's stack. Nothing we read nests deeper than a few levels, so the bound
// refuses such input while it is parsed, before any value that deep exists.
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace mi {

inline constexpr int kMaxJsonDepth = 64;

// Thrown by parse_bounded_json for input nested deeper than its bound.
class JsonTooDeep : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// nlohmann::json::parse, refusing arrays and objects nested more than `max_depth` levels
// (JsonTooDeep). Malformed JSON throws nlohmann::json::parse_error as parse() does.
nlohmann::json parse_bounded_json(std::string_view text, int max_depth = kMaxJsonDepth);

}  // namespace mi

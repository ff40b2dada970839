#include "common/bounded_json.h"

namespace mi {

nlohmann::json parse_bounded_json(std::string_view text, int max_depth) {
  using Event = nlohmann::json::parse_event_t;
  // The callback sees each array and object open at the depth of its parent; the value it
  // opens is one level deeper.
  const auto bounded = [max_depth](int depth, Event event, nlohmann::json&) {
    if ((event == Event::array_start || event == Event::object_start) && depth + 1 > max_depth) {
      throw JsonTooDeep("JSON nested deeper than " + std::to_string(max_depth) + " levels");
    }
    return true;
  };
  return nlohmann::json::parse(text.begin(), text.end(), bounded);
}

}  // namespace mi

#include "binders/file/sidecar.h"

#include <nlohmann/json.hpp>

#include "common/bounded_json.h"

namespace mi::binders {

std::map<std::string, std::string> decode_sidecar(std::string_view text) {
  const auto json = parse_bounded_json(text);
  std::map<std::string, std::string> headers;
  if (!json.is_object()) return headers;
  for (const auto& [key, value] : json.items()) {
    headers[key] = value.is_string() ? value.get<std::string>()
                                     : value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  return headers;
}

std::string encode_sidecar(const std::map<std::string, std::string>& headers) {
  nlohmann::json json = nlohmann::json::object();
  for (const auto& [key, value] : headers) json[key] = value;
  return json.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace mi::binders

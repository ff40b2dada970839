// The spool sidecar decoder (src/binders/file/sidecar.cc) on arbitrary bytes, as anyone who can
// write into a spool may leave them: decoding either yields headers or throws what the file
// input handles (JsonTooDeep: the file is set aside; a JSON error: the headers are ignored);
// headers it yields survive the output's encoding and a second decoding unchanged.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "binders/file/sidecar.h"
#include "common/bounded_json.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::map<std::string, std::string> headers;
  try {
    headers = mi::binders::decode_sidecar(std::string_view(reinterpret_cast<const char*>(data), size));
  } catch (const mi::JsonTooDeep&) {
    return 0;
  } catch (const nlohmann::json::exception&) {
    return 0;
  }
  if (mi::binders::decode_sidecar(mi::binders::encode_sidecar(headers)) != headers) {
    std::fprintf(stderr, "sidecar headers do not survive encode -> decode\n");
    std::abort();
  }
  return 0;
}

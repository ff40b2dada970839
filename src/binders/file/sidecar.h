#pragma once
// The sidecar beside a spool file (<name>.headers.json, file_binder.h): a message's headers as
// one JSON object. Sidecars in an input spool come from anyone who can write there, so
// decoding is bounded (the input reads kMaxSidecarBytes at most; kMaxJsonDepth levels of
// nesting) and throws, never crashes; fuzz/sidecar_headers_fuzz.cc feeds it arbitrary bytes.
#include <cstddef>
#include <map>
#include <string>
#include <string_view>

namespace mi::binders {

inline constexpr std::size_t kMaxSidecarBytes = 1024 * 1024;

// The headers a sidecar holds: each member of the top-level object, a string as it is,
// anything else as its JSON text (a number 3 becomes "3"). A value that is not an object
// gives no headers. Throws mi::JsonTooDeep (common/bounded_json.h) for nesting deeper than
// kMaxJsonDepth, nlohmann::json::exception for text that is not JSON.
std::map<std::string, std::string> decode_sidecar(std::string_view text);

// What the file output writes: the headers as an indented JSON object; invalid UTF-8 in a
// header is replaced (U+FFFD) rather than failing the message.
std::string encode_sidecar(const std::map<std::string, std::string>& headers);

}  // namespace mi::binders

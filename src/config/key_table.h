#pragma once
// Every configuration key the product knows, declared once. Validation, --help, masking,
// --check-config and the README's configuration reference all read this table.
//
// Patterns use Spring's kebab-case and these placeholders:
//   <id>   a workflow id, 0..19        <i>   a list index, 0, 1, ...
//   <name> any single segment          **    any further segments (free-form maps)
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mi::config {

enum class ValueType { kString, kBool, kInt, kDouble, kEnum, kList, kDuration, kDataSize, kLogLevel, kAny };

struct KeySpec {
  std::string_view pattern;
  ValueType type = ValueType::kString;
  std::string_view default_value;  // empty: no default
  std::optional<double> min;
  std::optional<double> max;
  std::vector<std::string_view> allowed;  // for kEnum
  bool secret = false;
  std::string_view description;
};

inline constexpr int kMaxWorkflows = 20;

const std::vector<KeySpec>& key_table();

// The spec whose pattern matches a canonical key, if any.
const KeySpec* find_spec(const std::string& canonical);

// Checks one value against its spec; returns an error message naming what is allowed.
std::optional<std::string> check_value(const KeySpec& spec, const std::string& value);

// The best-known key for a mistyped one, written as in the docs, with placeholders filled
// from the mistyped key where possible.
std::optional<std::string> closest_known_key(const std::string& canonical);

// Markdown table of all keys, for the README.
std::string reference_markdown();
// Plain text list of all keys, for --help.
std::string reference_text();

std::string_view type_name(ValueType type);

// Parsers shared by validation and typed access. Return false on bad input.
bool parse_bool(const std::string& text, bool& out);
bool parse_int(const std::string& text, long long& out);
bool parse_double(const std::string& text, double& out);
// Spring durations: "500" (ms), "500ms", "30s", "2m", "1h", "1d".
bool parse_duration_ms(const std::string& text, long long& out);
// Spring Boot's DataSize: 512, 512B, 8KB, 16MB, 1GB (KB = 1024 bytes); bounds in bytes.
bool parse_data_size(const std::string& text, long long& out);
// "a, b,,c " -> {"a", "b", "c"}: comma-separated lists, items trimmed, empty ones dropped.
std::vector<std::string> split_comma_list(const std::string& text);
// Enum values are relaxed too: "Active-Standby" == "active_standby".
std::string canonical_enum(const std::string& text);

}  // namespace mi::config

#include "config/config.h"

#include <algorithm>
#include <stdexcept>

#include "config/relaxed_name.h"

namespace mi::config {
namespace {

bool is_index(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// `roles.0` belongs to the list key `roles`.
const KeySpec* find_spec_or_list_parent(const std::string& canonical) {
  if (const KeySpec* spec = find_spec(canonical)) return spec;
  const size_t dot = canonical.rfind('.');
  if (dot != std::string::npos && is_index(canonical.substr(dot + 1))) {
    const KeySpec* parent = find_spec(canonical.substr(0, dot));
    if (parent && parent->type == ValueType::kList) return parent;
  }
  return nullptr;
}

bool in_checked_namespace(const std::string& canonical) {
  for (const char* root : {"solace.connector.", "spring.cloud.stream.", "server.", "management.", "logging."}) {
    if (canonical.rfind(root, 0) == 0) return true;
  }
  return false;
}

// `client-password.0` or `server.port.x`: a list or map written where a key of the table
// takes one value. Returns that key's spec.
const KeySpec* scalar_parent(const std::string& canonical) {
  for (size_t dot = canonical.rfind('.'); dot != std::string::npos && dot > 0; dot = canonical.rfind('.', dot - 1)) {
    const KeySpec* spec = find_spec(canonical.substr(0, dot));
    if (spec) return spec->type == ValueType::kList || spec->type == ValueType::kAny ? nullptr : spec;
  }
  return nullptr;
}

std::string display_value(const std::string& canonical, const PropertyValue& v, const KeySpec* spec) {
  if ((spec && spec->secret) || is_secret_key(canonical) || v.secret) return std::string(kMask);
  return v.value;
}

}  // namespace

namespace {

// The runtime reads only keys the table declares, with the type it declares: a mistyped key
// or type in the code is a programming error that every unit test reading the settings
// catches (settings_test.cc), not a value that silently reads as 0.
const KeySpec& declared(const std::string& canonical, std::initializer_list<ValueType> readable_as) {
  const KeySpec* spec = find_spec(canonical);
  if (!spec) throw std::logic_error("the code reads '" + canonical + "', which the key table does not declare");
  if (spec->type != ValueType::kAny && readable_as.size() > 0 &&
      std::find(readable_as.begin(), readable_as.end(), spec->type) == readable_as.end()) {
    throw std::logic_error("the code reads '" + canonical + "' as another type than the key table's " +
                           std::string(type_name(spec->type)));
  }
  return *spec;
}

}  // namespace

std::string Config::get_string(const std::string& key) const {
  const std::string canonical = canonical_key(key);
  return value_or_default(canonical, declared(canonical, {}));
}

bool Config::get_bool(const std::string& key) const {
  const std::string canonical = canonical_key(key);
  bool b = false;
  parse_bool(value_or_default(canonical, declared(canonical, {ValueType::kBool})), b);
  return b;
}

long long Config::get_int(const std::string& key) const {
  const std::string canonical = canonical_key(key);
  long long n = 0;
  parse_int(value_or_default(canonical, declared(canonical, {ValueType::kInt})), n);
  return n;
}

double Config::get_double(const std::string& key) const {
  const std::string canonical = canonical_key(key);
  double d = 0;
  parse_double(value_or_default(canonical, declared(canonical, {ValueType::kDouble})), d);
  return d;
}

long long Config::get_duration_ms(const std::string& key) const {
  const std::string canonical = canonical_key(key);
  long long ms = 0;
  parse_duration_ms(value_or_default(canonical, declared(canonical, {ValueType::kDuration})), ms);
  return ms;
}

long long Config::get_data_size(const std::string& key) const {
  const std::string canonical = canonical_key(key);
  long long bytes = 0;
  parse_data_size(value_or_default(canonical, declared(canonical, {ValueType::kDataSize})), bytes);
  return bytes;
}

std::string Config::value_or_default(const std::string& canonical, const KeySpec& spec) const {
  if (const auto* v = properties_.find(canonical)) return v->value;
  return std::string(spec.default_value);
}

std::vector<std::string> Config::get_list(const std::string& key) const {
  const std::string canonical = canonical_key(key);
  const PropertyValue* whole = properties_.find(canonical);
  std::map<long long, const PropertyValue*> indexed;
  int indexed_rank = -1;
  for (const auto& [k, v] : properties_.entries()) {
    if (k.size() <= canonical.size() + 1 || k.compare(0, canonical.size(), canonical) != 0 ||
        k[canonical.size()] != '.')
      continue;
    const std::string rest = k.substr(canonical.size() + 1);
    if (!is_index(rest) || rest.size() > 6) continue;
    indexed[std::stoll(rest)] = &v;
    indexed_rank = std::max(indexed_rank, v.rank);
  }
  std::vector<std::string> out;
  if (whole && whole->rank >= indexed_rank) {
    return split_comma_list(whole->value);
  }
  for (const auto& [index, v] : indexed) {
    if (v->rank == indexed_rank) out.push_back(v->value);
  }
  return out;
}

bool Config::is_set(const std::string& key) const {
  return properties_.find(canonical_key(key)) != nullptr;
}

std::string Config::origin(const std::string& key) const {
  const auto* v = properties_.find(canonical_key(key));
  return v ? v->origin : "default";
}

std::string Config::written_key(const std::string& key) const {
  const auto* v = properties_.find(canonical_key(key));
  return v ? v->key : key;
}

std::set<std::string> Config::children(const std::string& prefix) const {
  const std::string canonical = canonical_key(prefix) + ".";
  std::set<std::string> out;
  for (auto it = properties_.entries().lower_bound(canonical);
       it != properties_.entries().end() && it->first.compare(0, canonical.size(), canonical) == 0;
       ++it) {
    const std::string rest = it->first.substr(canonical.size());
    out.insert(rest.substr(0, rest.find('.')));
  }
  return out;
}

std::map<std::string, std::string> Config::subtree(const std::string& prefix) const {
  const std::string canonical = canonical_key(prefix) + ".";
  std::map<std::string, std::string> out;
  for (auto it = properties_.entries().lower_bound(canonical);
       it != properties_.entries().end() && it->first.compare(0, canonical.size(), canonical) == 0;
       ++it) {
    out[it->first.substr(canonical.size())] = it->second.value;
  }
  return out;
}

Problems Config::validate() const {
  Problems problems;
  for (const auto& [canonical, v] : properties_.entries()) {
    const KeySpec* spec = find_spec_or_list_parent(canonical);
    // (An open tail such as session.** would also take the key: the specific key comes first.)
    if (const KeySpec* parent = spec && spec->type != ValueType::kAny ? nullptr : scalar_parent(canonical)) {
      // Never with the value: it may be a secret written as a list.
      problems.push_back({ConfigProblem::Severity::kError, v.key, v.origin,
                          "a list or map where a single value belongs (" + std::string(parent->pattern) +
                              " takes one " + std::string(type_name(parent->type)) + ")"});
      continue;
    }
    if (!spec) {
      if (!in_checked_namespace(canonical)) continue;
      std::string message = "unknown key";
      if (auto suggestion = closest_known_key(canonical)) {
        message += "; did you mean '" + *suggestion + "'?";
      }
      problems.push_back({ConfigProblem::Severity::kWarning, v.key, v.origin, message});
      continue;
    }
    if (auto error = check_value(*spec, v.value)) {
      problems.push_back({ConfigProblem::Severity::kError, v.key, v.origin,
                          "invalid value '" + display_value(canonical, v, spec) + "': " +
                              *error});
    }
  }
  return problems;
}

std::string Config::describe_effective() const {
  std::map<std::string, std::string> lines;  // sorted by key as shown
  for (const auto& spec : key_table()) {
    if (spec.default_value.empty() || spec.pattern.find('<') != std::string_view::npos ||
        spec.pattern.find('*') != std::string_view::npos)
      continue;
    const std::string canonical = canonical_key(spec.pattern);
    if (properties_.find(canonical)) continue;
    lines[std::string(spec.pattern)] = std::string(spec.pattern) + " = " +
                                       display_value(canonical, PropertyValue{{}, std::string(spec.default_value), {}, 0, false}, &spec) +
                                       "  [default]";
  }
  for (const auto& [canonical, v] : properties_.entries()) {
    lines[v.key] = v.key + " = " + display_value(canonical, v, find_spec_or_list_parent(canonical)) +
                   "  [" + v.origin + "]";
  }
  std::string out;
  for (const auto& [key, line] : lines) out += line + "\n";
  return out;
}

}  // namespace mi::config

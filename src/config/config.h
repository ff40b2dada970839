#pragma once
// Typed read access to the merged configuration, with defaults from the key table, and the
// table-level validation of every value that was set.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "config/key_table.h"
#include "config/property_set.h"

namespace mi::config {

class Config {
 public:
  explicit Config(PropertySet properties) : properties_(std::move(properties)) {}

  const PropertySet& properties() const { return properties_; }

  // The value set for `key` (any relaxed spelling), else the table's default, else "".
  std::string get_string(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  long long get_int(const std::string& key) const;
  double get_double(const std::string& key) const;
  long long get_duration_ms(const std::string& key) const;
  long long get_data_size(const std::string& key) const;
  // `key=a,b` or `key[0]=a, key[1]=b`; the source with the highest rank wins as a whole.
  std::vector<std::string> get_list(const std::string& key) const;

  bool is_set(const std::string& key) const;
  // "file:line", "environment variable X", "command line" or "default".
  std::string origin(const std::string& key) const;
  // The key as the operator wrote it, or the canonical key if it was not set.
  std::string written_key(const std::string& key) const;

  // Distinct next segments below `prefix`, e.g. the binder names under
  // "spring.cloud.stream.binders".
  std::set<std::string> children(const std::string& prefix) const;
  // All values below `prefix`, keyed by the rest of the canonical key.
  std::map<std::string, std::string> subtree(const std::string& prefix) const;

  // Each value checked against its spec; unknown keys in our namespaces are warnings.
  Problems validate() const;

  // Every key with a value or a default: "key = value  [origin]", secrets masked.
  std::string describe_effective() const;

 private:
  // The value set for a canonical key, else its spec's default.
  std::string value_or_default(const std::string& canonical, const KeySpec& spec) const;

  PropertySet properties_;
};

}  // namespace mi::config

#pragma once
// The raw key/value pairs from every configuration source, merged by precedence:
// defaults < files (in the order given) < environment variables < command line.
#include <map>
#include <string>
#include <vector>

namespace mi::config {

// Where a value came from, e.g. "config/application.yml:12", "environment variable
// SERVER_PORT", "command line".
struct PropertyValue {
  std::string key;     // as the operator wrote it
  std::string value;
  std::string origin;
  int rank = 0;        // higher wins; see Rank
  bool secret = false; // holds a secret from a placeholder: masked even where the key is not secret
};

enum Rank : int { kFileRank = 100, kEnvironmentRank = 10000, kCommandLineRank = 20000 };

// A problem found while reading or validating configuration.
struct ConfigProblem {
  enum class Severity { kError, kWarning };
  Severity severity = Severity::kError;
  std::string key;      // the key as written (may be empty for file-level problems)
  std::string origin;   // file:line, environment variable, command line
  std::string message;  // says what is wrong and what is allowed; never holds a secret

  std::string to_string() const;
};
using Problems = std::vector<ConfigProblem>;
bool has_errors(const Problems& problems);

class PropertySet {
 public:
  // A source of higher rank keeps its value; on equal rank the later call wins, which is
  // what sources applied in precedence order need.
  void set(const std::string& raw_key, std::string value, std::string origin, int rank);

  const PropertyValue* find(const std::string& canonical) const;
  PropertyValue* find_mutable(const std::string& canonical);
  void erase(const std::string& canonical) { entries_.erase(canonical); }
  const std::map<std::string, PropertyValue>& entries() const { return entries_; }

 private:
  std::map<std::string, PropertyValue> entries_;  // by canonical key
};

}  // namespace mi::config

#include "config/property_set.h"

#include "config/relaxed_name.h"

namespace mi::config {

std::string ConfigProblem::to_string() const {
  std::string out = severity == Severity::kError ? "error: " : "warning: ";
  if (!key.empty()) out += key + ": ";
  out += message;
  if (!origin.empty()) out += " (from " + origin + ")";
  return out;
}

bool has_errors(const Problems& problems) {
  for (const auto& p : problems) {
    if (p.severity == ConfigProblem::Severity::kError) return true;
  }
  return false;
}

void PropertySet::set(const std::string& raw_key, std::string value, std::string origin,
                      int rank) {
  const std::string canonical = canonical_key(raw_key);
  auto it = entries_.find(canonical);
  if (it != entries_.end() && it->second.rank > rank) return;
  entries_[canonical] = PropertyValue{raw_key, std::move(value), std::move(origin), rank};
}

const PropertyValue* PropertySet::find(const std::string& canonical) const {
  auto it = entries_.find(canonical);
  return it == entries_.end() ? nullptr : &it->second;
}

PropertyValue* PropertySet::find_mutable(const std::string& canonical) {
  auto it = entries_.find(canonical);
  return it == entries_.end() ? nullptr : &it->second;
}

}  // namespace mi::config

#include "config/placeholders.h"

#include <map>
#include <optional>
#include <set>
#include <stdexcept>

#include "config/relaxed_name.h"

namespace mi::config {
namespace {

// Deeper than any configuration needs; a longer chain is a loop in disguise.
constexpr int kMaxDepth = 32;
// A hostile file can make placeholders multiply (a: ${b}${b}, b: ${c}${c}, ...): like YAML
// aliases, their number in the whole configuration and the length of a value are bounded.
constexpr int kMaxPlaceholders = 10000;
constexpr std::size_t kMaxResolvedBytes = 1024 * 1024;

class UnresolvableError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Resolver {
 public:
  Resolver(const PropertySet& properties, const std::vector<std::string>& environment) : properties_(properties) {
    for (const auto& entry : environment) {
      const auto eq = entry.find('=');
      if (eq != std::string::npos && eq > 0) environment_.emplace(entry.substr(0, eq), entry.substr(eq + 1));
    }
  }

  struct Result {
    std::string value;
    std::vector<std::string> sources;  // "${X} from environment variable X"
    bool secret = false;
  };

  // Throws UnresolvableError naming the placeholder.
  Result resolve(const std::string& text) {
    Result result;
    result.value = expand(text, 0, result);
    return result;
  }

 private:
  std::string expand(const std::string& text, int depth, Result& result) {
    if (depth > kMaxDepth) throw UnresolvableError("placeholders nest more than " + std::to_string(kMaxDepth) + " deep (a loop?)");
    std::string out;
    for (std::size_t i = 0; i < text.size();) {
      if (text.compare(i, 3, "\\${") == 0) {  // escaped: the literal text
        out += "${";
        i += 3;
        continue;
      }
      if (text.compare(i, 2, "${") != 0) {
        // Plain text up to the next character that may start a placeholder or an escape.
        const std::size_t next = text.find_first_of("$\\", i + 1);
        const std::size_t stop = next == std::string::npos ? text.size() : next;
        out.append(text, i, stop - i);
        i = stop;
        continue;
      }
      const std::size_t end = closing_brace(text, i + 2);
      // Without the text: the rest of a value may be a secret.
      if (end == std::string::npos) throw UnresolvableError("has a '${' without its closing '}' (write \\${ for the text ${)");
      if (++placeholders_resolved_ > kMaxPlaceholders) {
        throw UnresolvableError("the configuration resolves more than " + std::to_string(kMaxPlaceholders) +
                                " placeholders (placeholders that multiply?)");
      }
      out += placeholder(text.substr(i + 2, end - i - 2), depth, result);
      if (out.size() > kMaxResolvedBytes) {
        throw UnresolvableError("resolves to more than " + std::to_string(kMaxResolvedBytes) + " bytes");
      }
      i = end + 1;
    }
    return out;
  }

  // The '}' that closes the placeholder whose body starts at `from`, counting nested ones.
  static std::size_t closing_brace(const std::string& text, std::size_t from) {
    int open = 1;
    for (std::size_t i = from; i < text.size(); ++i) {
      if (text.compare(i, 2, "${") == 0) {
        ++open;
        ++i;
      } else if (text[i] == '}' && --open == 0) {
        return i;
      }
    }
    return std::string::npos;
  }

  // The first ':' outside nested placeholders separates the name from the default.
  static std::size_t default_separator(const std::string& body) {
    int open = 0;
    for (std::size_t i = 0; i < body.size(); ++i) {
      if (body.compare(i, 2, "${") == 0) {
        ++open;
        ++i;
      } else if (body[i] == '}') {
        --open;
      } else if (body[i] == ':' && open == 0) {
        return i;
      }
    }
    return std::string::npos;
  }

  std::string placeholder(const std::string& body, int depth, Result& result) {
    const std::size_t colon = default_separator(body);
    const std::string name = expand(body.substr(0, colon), depth + 1, result);
    const std::string shown = "${" + body + "}";
    if (name.empty()) throw UnresolvableError("'" + shown + "' names nothing");
    if (!resolving_.insert(name).second) throw UnresolvableError("'" + shown + "' refers to itself");
    struct Leave {
      std::set<std::string>& set;
      const std::string& name;
      ~Leave() { set.erase(name); }
    } leave{resolving_, name};

    const std::string canonical = canonical_key(name);
    const PropertyValue* property = properties_.find(canonical);
    const auto found = [&](const std::string& raw, const std::string& where, bool secret) {
      result.sources.push_back("${" + name + "} from " + where);
      result.secret = result.secret || secret;
      return expand(raw, depth + 1, result);
    };
    if (property && property->rank >= kCommandLineRank) {
      return found(property->value, "the command line", is_secret_key(canonical) || property->secret);
    }
    if (auto variable = environment_variable(name)) {
      return found(environment_.at(*variable), "environment variable " + *variable,
                   is_secret_key(canonical_key(*variable)));
    }
    if (property) {
      return found(property->value, property->origin, is_secret_key(canonical) || property->secret);
    }
    if (colon != std::string::npos) {
      result.sources.push_back("${" + name + "} unset: its default");
      return expand(body.substr(colon + 1), depth + 1, result);
    }
    throw UnresolvableError("cannot resolve placeholder '" + shown + "': no environment variable " + name +
                            ", --" + name + "= argument or property of that name, and no default (write ${" + name +
                            ":default} for one)");
  }

  // NAME, then with '.' and '-' as '_', then that in upper case.
  std::optional<std::string> environment_variable(const std::string& name) const {
    std::string underscored = name;
    for (char& c : underscored) {
      if (c == '.' || c == '-') c = '_';
    }
    std::string upper = underscored;
    for (char& c : upper) {
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
    for (const std::string& candidate : {name, underscored, upper}) {
      if (environment_.count(candidate)) return candidate;
    }
    return std::nullopt;
  }

  const PropertySet& properties_;
  std::map<std::string, std::string> environment_;
  std::set<std::string> resolving_;
  int placeholders_resolved_ = 0;  // in every value so far, nested ones included
};

bool may_hold_placeholder(const std::string& value) { return value.find("${") != std::string::npos; }

}  // namespace

void resolve_placeholders(PropertySet& properties, const std::vector<std::string>& environment, Problems& problems) {
  // Resolved against the values as written: one value's resolution never depends on the
  // order in which others were resolved.
  const PropertySet written = properties;
  Resolver resolver(written, environment);
  std::vector<std::string> unresolvable;
  for (const auto& [canonical, written_value] : written.entries()) {
    if (!may_hold_placeholder(written_value.value)) continue;
    try {
      auto result = resolver.resolve(written_value.value);
      PropertyValue& v = *properties.find_mutable(canonical);
      v.value = std::move(result.value);
      v.secret = v.secret || result.secret;
      if (!result.sources.empty()) {
        std::string sources;
        for (const auto& s : result.sources) sources += (sources.empty() ? "" : ", ") + s;
        v.origin += " (" + sources + ")";
      }
    } catch (const UnresolvableError& e) {
      problems.push_back({ConfigProblem::Severity::kError, written_value.key, written_value.origin, e.what()});
      unresolvable.push_back(canonical);
    }
  }
  // Gone rather than kept as text that would be reported again as an invalid value.
  for (const auto& canonical : unresolvable) properties.erase(canonical);
}

}  // namespace mi::config

#include "config/property_sources.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <sstream>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include "config/relaxed_name.h"

namespace mi::config {
namespace {

std::string lower_extension(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

// A key set twice in one source is almost always a mistake (which one did the operator mean?).
void set_warning_twice(PropertySet& out, const std::string& key, std::string value, const std::string& where, int rank,
                       Problems& problems) {
  if (const PropertyValue* existing = out.find(canonical_key(key)); existing && existing->rank == rank) {
    problems.push_back({ConfigProblem::Severity::kWarning, key, where,
                        "duplicate key (also set at " + existing->origin + "); this later value wins"});
  }
  out.set(key, std::move(value), where, rank);
}

// YAML aliases let a few hundred bytes stand for billions of values ("billion laughs"): the
// walk over the document is bounded, in nodes and in depth.
struct FlattenBudget {
  static constexpr size_t kMaxNodes = 10'000;  // a full configuration has a few hundred
  static constexpr int kMaxDepth = 64;
  size_t nodes = 0;
  bool exceeded = false;
};

void flatten_yaml(const YAML::Node& node, const std::string& prefix, const std::string& origin,
                  int rank, PropertySet& out, Problems& problems, FlattenBudget& budget, int depth = 0) {
  if (budget.exceeded) return;
  const std::string where = origin + ":" + std::to_string(node.Mark().line + 1);
  if (++budget.nodes > FlattenBudget::kMaxNodes || depth > FlattenBudget::kMaxDepth) {
    budget.exceeded = true;
    problems.push_back({ConfigProblem::Severity::kError, "", where,
                        "the file is too large once its aliases are expanded (more than " +
                            std::to_string(FlattenBudget::kMaxNodes) + " values or " +
                            std::to_string(FlattenBudget::kMaxDepth) + " levels)"});
    return;
  }
  switch (node.Type()) {
    case YAML::NodeType::Map:
      for (const auto& entry : node) {
        if (!entry.first.IsScalar()) {
          problems.push_back({ConfigProblem::Severity::kError, prefix, where,
                              "a mapping key must be a plain string"});
          continue;
        }
        const std::string key = entry.first.Scalar();
        flatten_yaml(entry.second, prefix.empty() ? key : prefix + "." + key, origin, rank, out, problems, budget,
                     depth + 1);
      }
      break;
    case YAML::NodeType::Sequence: {
      size_t index = 0;
      for (const auto& item : node) {
        flatten_yaml(item, prefix + "[" + std::to_string(index++) + "]", origin, rank, out, problems, budget,
                     depth + 1);
      }
      break;
    }
    case YAML::NodeType::Scalar:
      if (prefix.empty()) {
        problems.push_back({ConfigProblem::Severity::kError, "", where,
                            "the document must be a mapping of keys to values"});
      } else {
        set_warning_twice(out, prefix, node.Scalar(), where, rank, problems);
      }
      break;
    case YAML::NodeType::Null:
      if (!prefix.empty()) set_warning_twice(out, prefix, "", where, rank, problems);
      break;
    case YAML::NodeType::Undefined:
      break;
  }
}

// Java .properties escapes: \t \n \r \f \uXXXX, and `\x` stands for x.
void append_unescaped(std::string_view text, std::string& out) {
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c != '\\' || i + 1 == text.size()) {
      out.push_back(c);
      continue;
    }
    c = text[++i];
    switch (c) {
      case 't': out.push_back('\t'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 'f': out.push_back('\f'); break;
      case 'u': {
        unsigned code = 0;
        size_t digits = 0;
        while (digits < 4 && i + 1 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1]))) {
          code = code * 16 + static_cast<unsigned>(std::stoi(std::string(1, text[++i]), nullptr, 16));
          ++digits;
        }
        // UTF-8 encode the BMP code point.
        if (code < 0x80) {
          out.push_back(static_cast<char>(code));
        } else if (code < 0x800) {
          out.push_back(static_cast<char>(0xC0 | (code >> 6)));
          out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
        } else {
          out.push_back(static_cast<char>(0xE0 | (code >> 12)));
          out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
          out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
        }
        break;
      }
      default: out.push_back(c);
    }
  }
}

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\f'; }

}  // namespace

namespace {

// Walks the documents of a YAML stream with yaml-cpp's event parser and stops if a document
// starts where the previous one did. yaml-cpp 0.7's LoadAll never returns on some malformed
// input (e.g. a lone ","): it keeps producing empty documents at the same position until
// memory runs out (jbeder/yaml-cpp#1040). Returns the line where it got stuck, if it did.
class StuckDocumentFinder final : public YAML::EventHandler {
 public:
  std::optional<int> scan(const std::string& text) {
    std::istringstream in(text);
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(*this)) {
      if (stuck_) return line_ + 1;
    }
    return std::nullopt;
  }
  void OnDocumentStart(const YAML::Mark& mark) override {
    if (seen_ && mark.pos <= last_pos_) stuck_ = true;
    seen_ = true;
    last_pos_ = mark.pos;
    line_ = mark.line;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

 private:
  bool seen_ = false;
  bool stuck_ = false;
  int last_pos_ = -1;
  int line_ = 0;
};

}  // namespace

void load_yaml_text(const std::string& text, const std::string& origin_name, int rank,
                    PropertySet& out, Problems& problems) {
  try {
    if (const auto line = StuckDocumentFinder().scan(text)) {
      problems.push_back({ConfigProblem::Severity::kError, "", origin_name + ":" + std::to_string(*line),
                          "invalid YAML: unexpected text where a document should start (a stray ',' or ']'?)"});
      return;
    }
    FlattenBudget budget;  // for the whole file: many documents share one bound
    for (const auto& doc : YAML::LoadAll(text)) {
      if (doc.IsNull()) continue;
      if (!doc.IsMap()) {
        problems.push_back({ConfigProblem::Severity::kError, "",
                            origin_name + ":" + std::to_string(doc.Mark().line + 1),
                            "the document must be a mapping of keys to values"});
        continue;
      }
      flatten_yaml(doc, "", origin_name, rank, out, problems, budget);
    }
  } catch (const YAML::Exception& e) {
    problems.push_back({ConfigProblem::Severity::kError, "",
                        origin_name + ":" + std::to_string(e.mark.line + 1),
                        "invalid YAML: " + e.msg});
  }
}

void load_properties_text(const std::string& text, const std::string& origin_name, int rank,
                          PropertySet& out, Problems& problems) {
  std::istringstream in(text);
  std::string physical;
  int line_no = 0;
  while (std::getline(in, physical)) {
    ++line_no;
    const int first_line = line_no;
    if (!physical.empty() && physical.back() == '\r') physical.pop_back();
    size_t start = 0;
    while (start < physical.size() && is_blank(physical[start])) ++start;
    if (start == physical.size() || physical[start] == '#' || physical[start] == '!') continue;
    std::string logical = physical.substr(start);
    // An odd number of trailing backslashes continues the line.
    auto continues = [](const std::string& s) {
      size_t n = 0;
      for (auto it = s.rbegin(); it != s.rend() && *it == '\\'; ++it) ++n;
      return n % 2 == 1;
    };
    while (continues(logical) && std::getline(in, physical)) {
      ++line_no;
      if (!physical.empty() && physical.back() == '\r') physical.pop_back();
      logical.pop_back();
      size_t s = 0;
      while (s < physical.size() && is_blank(physical[s])) ++s;
      logical += physical.substr(s);
    }
    size_t key_end = 0;
    while (key_end < logical.size()) {
      char c = logical[key_end];
      if (c == '\\') {
        key_end += 2;
        continue;
      }
      if (c == '=' || c == ':' || is_blank(c)) break;
      ++key_end;
    }
    key_end = std::min(key_end, logical.size());
    size_t value_start = key_end;
    while (value_start < logical.size() && is_blank(logical[value_start])) ++value_start;
    if (value_start < logical.size() && (logical[value_start] == '=' || logical[value_start] == ':')) {
      ++value_start;
      while (value_start < logical.size() && is_blank(logical[value_start])) ++value_start;
    }
    std::string key;
    std::string value;
    append_unescaped(std::string_view(logical).substr(0, key_end), key);
    append_unescaped(std::string_view(logical).substr(value_start), value);
    const std::string where = origin_name + ":" + std::to_string(first_line);
    if (key.empty()) {
      problems.push_back({ConfigProblem::Severity::kError, "", where, "a line has a value but no key"});
      continue;
    }
    set_warning_twice(out, key, std::move(value), where, rank, problems);
  }
}

void load_file(const std::filesystem::path& path, int rank, PropertySet& out, Problems& problems) {
  const auto problem = [&](const std::string& message) {
    problems.push_back({ConfigProblem::Severity::kError, "", path.string(), message});
  };
  // O_NONBLOCK: a FIFO is refused below rather than waited on.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return problem(std::string("cannot read configuration file: ") + std::strerror(errno));
  std::string text;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return problem("not a regular file (a directory, FIFO or device cannot be a configuration file)");
  }
  const auto too_large = "larger than " + std::to_string(kMaxConfigFileBytes) + " bytes; a configuration file is far smaller";
  if (static_cast<std::uintmax_t>(st.st_size) > kMaxConfigFileBytes) {
    ::close(fd);
    return problem(too_large);
  }
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string error = std::strerror(errno);
      ::close(fd);
      return problem("cannot read configuration file: " + error);
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxConfigFileBytes) {  // it grew, or fstat did not tell (procfs)
      ::close(fd);
      return problem(too_large);
    }
  }
  ::close(fd);
  const std::string ext = lower_extension(path);
  if (ext == ".yml" || ext == ".yaml") {
    load_yaml_text(text, path.string(), rank, out, problems);
  } else if (ext == ".properties") {
    load_properties_text(text, path.string(), rank, out, problems);
  } else {
    problem("unsupported configuration file type '" + ext + "' (allowed: .yml, .yaml, .properties)");
  }
}

void load_environment(const std::vector<std::string>& entries, PropertySet& out) {
  for (const auto& entry : entries) {
    const size_t eq = entry.find('=');
    if (eq == std::string::npos) continue;
    const std::string name = entry.substr(0, eq);
    if (auto key = key_from_environment_variable(name)) {
      out.set(*key, entry.substr(eq + 1), "environment variable " + name, kEnvironmentRank);
    }
  }
}

void load_command_line(const std::vector<std::string>& args, PropertySet& out,
                       Problems& problems) {
  for (const auto& arg : args) {
    const size_t eq = arg.find('=');
    if (arg.rfind("--", 0) != 0 || eq == std::string::npos || eq == 2) {
      problems.push_back({ConfigProblem::Severity::kError, "", "command line",
                          "unrecognised argument '" + arg.substr(0, eq) +
                              "' (configuration overrides are written --some.key=value)"});
      continue;
    }
    out.set(arg.substr(2, eq - 2), arg.substr(eq + 1), "command line", kCommandLineRank);
  }
}

std::vector<std::filesystem::path> default_config_files(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> found;
  for (const auto& sub : {dir, dir / "config"}) {
    for (const char* name : {"application.properties", "application.yaml", "application.yml"}) {
      std::error_code ec;
      if (std::filesystem::is_regular_file(sub / name, ec)) found.push_back(sub / name);
    }
  }
  return found;
}

}  // namespace mi::config

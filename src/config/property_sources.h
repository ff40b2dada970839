#pragma once
// Readers for each configuration source. Each adds its pairs to a PropertySet with the
// source's rank and reports unreadable input as problems instead of throwing.
#include <filesystem>
#include <string>
#include <vector>

#include "config/property_set.h"

namespace mi::config {

// Larger configuration files are refused unread.
inline constexpr std::size_t kMaxConfigFileBytes = 1024 * 1024;

// `.yml`/`.yaml` or `.properties`, by extension; regular files only, at most
// kMaxConfigFileBytes. Files are ranked in the order given.
void load_file(const std::filesystem::path& path, int rank, PropertySet& out, Problems& problems);
void load_yaml_text(const std::string& text, const std::string& origin_name, int rank,
                    PropertySet& out, Problems& problems);
void load_properties_text(const std::string& text, const std::string& origin_name, int rank,
                          PropertySet& out, Problems& problems);

// `environ`-style entries "NAME=value"; only the product's namespaces are read.
void load_environment(const std::vector<std::string>& entries, PropertySet& out);

// Spring-style `--some.key=value` arguments.
void load_command_line(const std::vector<std::string>& args, PropertySet& out,
                       Problems& problems);

// Spring Boot's default locations when no --config is given: ./config/ wins over ./,
// so it is loaded last. Returns the files that exist.
std::vector<std::filesystem::path> default_config_files(const std::filesystem::path& dir);

}  // namespace mi::config

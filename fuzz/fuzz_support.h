#pragma once
// Shared by the fuzz targets: the configuration pipeline as src/app runs it on start-up
// (sources -> PropertySet -> Config::validate -> build_settings -> report /
// --check-config), and the oracles that turn a wrong answer into a crash.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "binders/file/file_binder.h"
#include "binders/mqtt/mqtt_binder.h"
#include "binders/rabbit/rabbit_binder.h"
#include "common/logging.h"
#include "config/config.h"
#include "config/placeholders.h"
#include "config/property_sources.h"
#include "config/relaxed_name.h"
#include "config/settings.h"
#include "workflow/binder.h"

namespace mi::fuzz {

// Reports a broken property and aborts, so libFuzzer (or the replay test) sees a crash.
[[noreturn]] inline void fail(const std::string& what) {
  std::fprintf(stderr, "\n*** fuzz oracle: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

// Components log to stderr; thousands of runs per second of that helps nobody.
inline void silence_logging() {
  static const bool done = [] {
    configure_logging(spdlog::level::off, {});
    return true;
  }();
  (void)done;
}

// The binder types of the application's registry (src/app/application.cc).
inline const std::set<std::string>& app_binder_types() {
  static const std::set<std::string> types = [] {
    workflow::BinderRegistry registry;
    registry.add(std::make_unique<binders::FileBinder>());
    registry.add(std::make_unique<binders::RabbitBinder>());
    registry.add(std::make_unique<binders::MqttBinder>());
    return registry.types();
  }();
  return types;
}

// A secret value that contains this marker must never show up in problems or in the
// --check-config output (README: "Values of keys ending in password, secret, token ...
// never appear in logs, errors or responses"). Seeds use it; mutations keep it.
inline constexpr std::string_view kSecretMarker = "S3cr3tM4rk";

inline bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// True when the marker appears only in values of secret keys, so any sighting in the
// output is a leak.
inline bool marker_only_in_secrets(const config::PropertySet& properties) {
  bool in_secret = false;
  for (const auto& [canonical, v] : properties.entries()) {
    const bool secret = config::is_secret_key(canonical);
    if (contains(v.key, kSecretMarker) || contains(v.origin, kSecretMarker)) return false;
    if (contains(v.value, kSecretMarker)) {
      if (!secret) return false;
      in_secret = true;
    }
  }
  return in_secret;
}

// What src/app/load_configuration.cc and application.cc do once every source is read.
// None of this may throw: problems are the documented error path.
inline void check_configuration(config::PropertySet properties, config::Problems problems) {
  try {
    const bool watch_secret = marker_only_in_secrets(properties);
    // Placeholders are resolved as at start-up; a value built from a secret must stay masked.
    config::resolve_placeholders(properties, {"FUZZ_VAR=fuzz", "FUZZ_PORT=8123"}, problems);
    const config::Config config(std::move(properties));
    for (auto& p : config.validate()) problems.push_back(std::move(p));
    const config::Settings settings = config::build_settings(config, app_binder_types(), problems);
    (void)settings;
    std::string reported;
    for (const auto& p : problems) reported += p.to_string() + "\n";
    if (!config::has_errors(problems)) reported += config.describe_effective();  // --check-config
    if (watch_secret && contains(reported, kSecretMarker)) {
      fail("a secret value leaked into the configuration report:\n" + reported);
    }
  } catch (const std::exception& e) {
    fail(std::string("configuration pipeline threw: ") + e.what());
  }
}

}  // namespace mi::fuzz

// The bytes are an environment: one NAME=VALUE entry per line (a NUL also ends an entry,
// as no entry of `environ` can hold one). They are bound through load_environment, the
// function src/app/load_configuration.cc hands process_environment() to, then validated
// and turned into Settings like any configuration. Nothing touches the real environment.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mi::fuzz::silence_logging();
  std::vector<std::string> entries;
  std::string entry;
  for (size_t i = 0; i < size; ++i) {
    const char c = static_cast<char>(data[i]);
    if (c == '\n' || c == '\0') {
      entries.push_back(std::move(entry));
      entry.clear();
    } else {
      entry.push_back(c);
    }
  }
  if (!entry.empty()) entries.push_back(std::move(entry));

  mi::config::PropertySet properties;
  try {
    mi::config::load_environment(entries, properties);
  } catch (const std::exception& e) {
    mi::fuzz::fail(std::string("load_environment threw: ") + e.what());
  }
  mi::fuzz::check_configuration(std::move(properties), {});
  return 0;
}

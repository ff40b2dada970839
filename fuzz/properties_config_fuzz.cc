// The bytes are the content of an application.properties: .properties source ->
// PropertySet -> Config validation -> Settings, as the application does on start-up.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mi::fuzz::silence_logging();
  const std::string text(reinterpret_cast<const char*>(data), size);
  mi::config::PropertySet properties;
  mi::config::Problems problems;
  try {
    mi::config::load_properties_text(text, "application.properties", mi::config::kFileRank, properties,
                                     problems);
  } catch (const std::exception& e) {
    mi::fuzz::fail(std::string("load_properties_text threw: ") + e.what());
  }
  mi::fuzz::check_configuration(std::move(properties), std::move(problems));
  return 0;
}

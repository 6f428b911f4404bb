// libFuzzer target: the configuration file (parseConfig: JSON, or YAML through yaml-cpp). The
// result is a Config or errors, each naming its key path, never a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "control/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // A base folder that does not exist: nothing in a config is read relative to it here.
  const nicproxy::ConfigResult result = nicproxy::parseConfig(text, "/nonexistent/nicproxy-fuzz");
  if (!result.config.has_value() && result.errors.empty()) std::abort();  // refused without a reason
  return 0;
}

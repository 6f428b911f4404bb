// libFuzzer target: the services file (parseServicesList: a Kubernetes List of Services
// and EndpointSlices, each item through the object decoders). Whatever the text, the
// result is a list of objects or errors, never a crash; an unreadable file has errors.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "control/services_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const nicproxy::ServicesFileContents contents = nicproxy::parseServicesList(text);
  // What the daemon and --validate rely on: a file that cannot be read says why.
  if (contents.unreadable && contents.errors.empty()) std::abort();
  return 0;
}

// libFuzzer target: the object decoders (decodeService, decodeEndpointSlice) on any JSON
// value, as a watch event or a list item hands them one. A decoder returns the object or
// errors that name it, never both, never a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <variant>

#include <boost/json/parse.hpp>

#include "control/k8s/decode.hpp"

namespace {
template <typename T>
void check(const nicproxy::k8s::Decoded<T>& decoded) {
  if (const auto* errors = std::get_if<std::vector<nicproxy::k8s::DecodeError>>(&decoded)) {
    if (errors->empty()) std::abort();  // rejected without a reason
    for (const auto& e : *errors) {
      if (e.message.empty()) std::abort();
    }
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  boost::system::error_code ec;
  const boost::json::value value =
      boost::json::parse(boost::json::string_view(reinterpret_cast<const char*>(data), size), ec);
  if (ec) return -1;  // not JSON: not worth keeping in the corpus
  check(nicproxy::k8s::decodeService(value));
  check(nicproxy::k8s::decodeEndpointSlice(value));
  return 0;
}

// libFuzzer target: the watch-stream framing (WatchStreamParser) and what the reflector
// does next (the object decoders). The first input byte sets the chunk size the body
// arrives in; the rest is the body. Chunk boundaries must not change the events: the body
// fed whole and fed in chunks gives the same events, in the same order. A third parser with
// a small line limit covers the long-line path.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/serialize.hpp>

#include "control/k8s/decode.hpp"
#include "control/k8s/watch_stream.hpp"

namespace {

using nicproxy::k8s::WatchEvent;
using nicproxy::k8s::WatchStreamParser;

// `decode`: also hands each event's object to its decoder, as the reflector does (once per
// input is enough: the other parses see the same events).
std::vector<std::string> parse(WatchStreamParser& parser, std::string_view body, size_t chunk, bool decode) {
  std::vector<std::string> seen;
  auto onEvent = [&](WatchEvent&& event) {
    seen.push_back(std::string(nicproxy::k8s::watchEventTypeName(event.type)) + " " +
                   boost::json::serialize(event.object));
    if (!decode) return true;
    const auto* kind = event.object.as_object().if_contains("kind");
    if (kind != nullptr && kind->is_string() && kind->as_string() == "EndpointSlice") {
      (void)nicproxy::k8s::decodeEndpointSlice(event.object);
    } else {
      (void)nicproxy::k8s::decodeService(event.object);
    }
    return true;
  };
  auto onBadLine = [&](const std::string& why) {
    if (why.empty()) std::abort();  // a bad line is reported with a reason
    seen.push_back("bad");
  };
  for (size_t offset = 0; offset < body.size(); offset += chunk) {
    parser.feed(body.substr(offset, chunk), onEvent, onBadLine);
  }
  return seen;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t chunk = std::max<size_t>(1, data[0]);
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);

  WatchStreamParser whole;
  WatchStreamParser chunked;
  const std::vector<std::string> a = parse(whole, body, std::max<size_t>(1, body.size()), true);
  const std::vector<std::string> b = parse(chunked, body, chunk, false);
  if (a != b || whole.pending() != chunked.pending()) std::abort();

  WatchStreamParser limited(64);
  (void)parse(limited, body, chunk, false);
  if (limited.pending() > 64) std::abort();  // the buffer stays bounded
  return 0;
}

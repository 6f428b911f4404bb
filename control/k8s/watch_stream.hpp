#pragma once
// Splits a watch response body into events. The API server writes one JSON object
// per line ({"type": ..., "object": ...}\n); chunk boundaries fall anywhere, so bytes
// are buffered until a newline completes a line. A line that is not a valid event is
// reported and skipped: the events after it still count.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

namespace nicproxy::k8s {

enum class WatchEventType { Added, Modified, Deleted, Bookmark, Error };
const char* watchEventTypeName(WatchEventType type);

struct WatchEvent {
  WatchEventType type = WatchEventType::Added;
  boost::json::value object;
};

class WatchStreamParser {
 public:
  using EventHandler = std::function<bool(WatchEvent&&)>;          // false: stop reading
  using BadLineHandler = std::function<void(const std::string&)>;  // "why: line excerpt"

  /// A line longer than `maxLineBytes` is dropped as bad (a broken stream must not
  /// grow the buffer without bound). Unbounded by default: the reflector's ApiClient
  /// already ends a watch whose event passes clientConnection.maxResponseBytes, as an
  /// error (the watch starts again) rather than a skipped event, which would lose a change.
  explicit WatchStreamParser(size_t maxLineBytes = SIZE_MAX) : maxLineBytes_(maxLineBytes) {}

  /// Consumes bytes; calls `onEvent` once per complete event in order. Returns false
  /// when a handler asked to stop (the rest of the bytes are dropped).
  bool feed(std::string_view bytes, const EventHandler& onEvent, const BadLineHandler& onBadLine);
  /// Bytes of an incomplete line waiting for the rest.
  size_t pending() const { return buffer_.size(); }

 private:
  bool handleLine(std::string_view line, const EventHandler& onEvent, const BadLineHandler& onBadLine);

  size_t maxLineBytes_;
  std::string buffer_;
  bool skippingLongLine_ = false;
};

/// One event line decoded; on failure returns false and sets `why`.
bool decodeWatchEvent(std::string_view line, WatchEvent& event, std::string& why);

}  // namespace nicproxy::k8s

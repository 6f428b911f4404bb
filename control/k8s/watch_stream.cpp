#include "control/k8s/watch_stream.hpp"

#include <boost/json/parse.hpp>

namespace nicproxy::k8s {
namespace {

std::string excerpt(std::string_view line) {
  constexpr size_t kMax = 120;
  std::string text(line.substr(0, kMax));
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return line.size() > kMax ? text + "..." : text;
}

}  // namespace

const char* watchEventTypeName(WatchEventType type) {
  switch (type) {
    case WatchEventType::Added: return "ADDED";
    case WatchEventType::Modified: return "MODIFIED";
    case WatchEventType::Deleted: return "DELETED";
    case WatchEventType::Bookmark: return "BOOKMARK";
    case WatchEventType::Error: return "ERROR";
  }
  return "?";
}

bool decodeWatchEvent(std::string_view line, WatchEvent& event, std::string& why) {
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(boost::json::string_view(line.data(), line.size()), ec);
  if (ec) {
    why = "not JSON (" + ec.message() + ")";
    return false;
  }
  auto* object = value.if_object();
  const auto* type = object != nullptr ? object->if_contains("type") : nullptr;
  auto* inner = object != nullptr ? object->if_contains("object") : nullptr;
  if (type == nullptr || !type->is_string() || inner == nullptr || !inner->is_object()) {
    why = "not a watch event (want {\"type\": string, \"object\": object})";
    return false;
  }
  const boost::json::string& name = type->as_string();
  if (name == "ADDED") event.type = WatchEventType::Added;
  else if (name == "MODIFIED") event.type = WatchEventType::Modified;
  else if (name == "DELETED") event.type = WatchEventType::Deleted;
  else if (name == "BOOKMARK") event.type = WatchEventType::Bookmark;
  else if (name == "ERROR") event.type = WatchEventType::Error;
  else {
    why = "unknown event type \"" + std::string(name.c_str()) + "\"";
    return false;
  }
  event.object = std::move(*inner);
  return true;
}

bool WatchStreamParser::handleLine(std::string_view line, const EventHandler& onEvent,
                                   const BadLineHandler& onBadLine) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.find_first_not_of(" \t") == std::string_view::npos) return true;
  WatchEvent event;
  std::string why;
  if (!decodeWatchEvent(line, event, why)) {
    onBadLine(why + ": " + excerpt(line));
    return true;
  }
  return onEvent(std::move(event));
}

bool WatchStreamParser::feed(std::string_view bytes, const EventHandler& onEvent, const BadLineHandler& onBadLine) {
  while (!bytes.empty()) {
    const size_t newline = bytes.find('\n');
    if (newline == std::string_view::npos) {
      if (!skippingLongLine_) buffer_.append(bytes);
      if (buffer_.size() > maxLineBytes_) {
        onBadLine("event line longer than " + std::to_string(maxLineBytes_) + " bytes: " + excerpt(buffer_));
        buffer_.clear();
        skippingLongLine_ = true;
      }
      return true;
    }
    const std::string_view tail = bytes.substr(0, newline);
    bytes.remove_prefix(newline + 1);
    if (skippingLongLine_) {
      skippingLongLine_ = false;
      continue;
    }
    bool goOn = true;
    if (buffer_.empty()) {
      goOn = handleLine(tail, onEvent, onBadLine);  // the common case: no copy
    } else {
      buffer_.append(tail);
      goOn = handleLine(buffer_, onEvent, onBadLine);
      buffer_.clear();
    }
    if (!goOn) {
      buffer_.clear();
      return false;
    }
  }
  return true;
}

}  // namespace nicproxy::k8s

#include "control/duration.hpp"

#include <cctype>
#include <cstdint>

namespace nicproxy {

std::optional<std::chrono::nanoseconds> parseGoDuration(std::string_view text) {
  using std::chrono::nanoseconds;
  if (text == "0") return nanoseconds{0};
  if (text.empty()) return std::nullopt;
  int64_t total = 0;
  constexpr int64_t kMax = INT64_MAX / 2;
  while (!text.empty()) {
    if (std::isdigit(static_cast<unsigned char>(text.front())) == 0) return std::nullopt;
    int64_t value = 0;
    while (!text.empty() && std::isdigit(static_cast<unsigned char>(text.front())) != 0) {
      value = value * 10 + (text.front() - '0');
      if (value > kMax) return std::nullopt;
      text.remove_prefix(1);
    }
    size_t unitLength = 0;
    while (unitLength < text.size() && std::isalpha(static_cast<unsigned char>(text[unitLength])) != 0) ++unitLength;
    const std::string_view unit = text.substr(0, unitLength);
    text.remove_prefix(unitLength);
    int64_t scale = 0;
    if (unit == "h") scale = 3600'000'000'000;
    else if (unit == "m") scale = 60'000'000'000;
    else if (unit == "s") scale = 1'000'000'000;
    else if (unit == "ms") scale = 1'000'000;
    else if (unit == "us" || unit == "µs") scale = 1'000;
    else if (unit == "ns") scale = 1;
    else return std::nullopt;
    if (value > kMax / scale) return std::nullopt;
    total += value * scale;
    if (total > kMax) return std::nullopt;
  }
  return nanoseconds{total};
}

}  // namespace nicproxy

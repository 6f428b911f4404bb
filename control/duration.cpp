#include "control/duration.hpp"

#include <cstdint>

namespace nicproxy {

namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isUnitChar(char c) { return (c >= 'a' && c <= 'z') || c == '\xc2' || c == '\xb5'; }  // "µs" is UTF-8

int64_t unitNanoseconds(std::string_view unit) {
  if (unit == "h") return 3600'000'000'000;
  if (unit == "m") return 60'000'000'000;
  if (unit == "s") return 1'000'000'000;
  if (unit == "ms") return 1'000'000;
  if (unit == "us" || unit == "\xc2\xb5s") return 1'000;
  if (unit == "ns") return 1;
  return 0;
}

}  // namespace

std::optional<std::chrono::nanoseconds> parseGoDuration(std::string_view text) {
  using std::chrono::nanoseconds;
  if (text == "0") return nanoseconds{0};
  if (text.empty()) return std::nullopt;
  // Bounded well below INT64_MAX so that the sums below cannot overflow.
  constexpr int64_t kMax = INT64_MAX / 4;
  int64_t total = 0;
  while (!text.empty()) {
    // A number: digits, optionally a fraction ("1.5"), as Go's time.ParseDuration takes.
    int64_t whole = 0;
    size_t i = 0;
    while (i < text.size() && isDigit(text[i])) {
      const int digit = text[i] - '0';
      if (whole > (kMax - digit) / 10) return std::nullopt;  // checked before it can overflow
      whole = whole * 10 + digit;
      ++i;
    }
    int64_t fraction = 0;
    int64_t fractionScale = 1;
    bool hasFraction = false;
    if (i < text.size() && text[i] == '.') {
      ++i;
      while (i < text.size() && isDigit(text[i])) {
        hasFraction = true;
        if (fractionScale < 1'000'000'000) {  // beyond nanoseconds, digits change nothing
          fraction = fraction * 10 + (text[i] - '0');
          fractionScale *= 10;
        }
        ++i;
      }
    }
    if (i == 0 || (i == 1 && text[0] == '.') || (text[i - 1] == '.' && !hasFraction && i == 1)) return std::nullopt;
    size_t unitEnd = i;
    while (unitEnd < text.size() && isUnitChar(text[unitEnd])) ++unitEnd;
    const int64_t scale = unitNanoseconds(text.substr(i, unitEnd - i));
    if (scale == 0) return std::nullopt;  // a missing or unknown unit
    if (whole > kMax / scale) return std::nullopt;
    // fraction < fractionScale (a power of ten up to 1e9). A unit of a second or more is a
    // multiple of every such scale: divide first, and the product stays below the unit. A
    // smaller unit times the fraction stays below 1e15. Either way, exact and no overflow.
    const int64_t fractionNanoseconds =
        scale >= fractionScale ? fraction * (scale / fractionScale) : fraction * scale / fractionScale;
    total += whole * scale + fractionNanoseconds;
    if (total > kMax) return std::nullopt;
    text.remove_prefix(unitEnd);
  }
  return nanoseconds{total};
}

std::string formatGoDuration(std::chrono::milliseconds duration) {
  const int64_t total = duration.count();
  if (total == 0) return "0s";
  if (total < 0) return "-" + formatGoDuration(-duration);
  if (total < 1000) return std::to_string(total) + "ms";
  const int64_t hours = total / 3'600'000;
  const int64_t minutes = total / 60'000 % 60;
  const int64_t millis = total % 60'000;
  std::string seconds = std::to_string(millis / 1000);
  if (millis % 1000 != 0) {
    std::string fraction = std::to_string(1000 + millis % 1000).substr(1);  // three digits
    fraction.erase(fraction.find_last_not_of('0') + 1);
    seconds += "." + fraction;
  }
  std::string text;
  if (hours > 0) text += std::to_string(hours) + "h";
  if (hours > 0 || minutes > 0) text += std::to_string(minutes) + "m";
  return text + seconds + "s";
}

}  // namespace nicproxy

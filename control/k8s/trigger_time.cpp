#include "control/k8s/trigger_time.hpp"

#include <charconv>

namespace nicproxy::k8s {

namespace {

// Reads exactly `digits` decimal digits at `pos`.
std::optional<int> number(std::string_view text, size_t pos, size_t digits) {
  if (pos + digits > text.size()) return std::nullopt;
  int value = 0;
  const char* begin = text.data() + pos;
  const auto [end, error] = std::from_chars(begin, begin + digits, value);
  if (error != std::errc() || end != begin + digits) return std::nullopt;
  return value;
}

bool at(std::string_view text, size_t pos, char c) { return pos < text.size() && text[pos] == c; }

}  // namespace

std::optional<std::chrono::system_clock::time_point> parseRfc3339(std::string_view text) {
  using namespace std::chrono;
  const auto year = number(text, 0, 4), month = number(text, 5, 2), day = number(text, 8, 2);
  const auto hour = number(text, 11, 2), minute = number(text, 14, 2), second = number(text, 17, 2);
  if (!year || !month || !day || !hour || !minute || !second || !at(text, 4, '-') || !at(text, 7, '-') ||
      !(at(text, 10, 'T') || at(text, 10, 't')) || !at(text, 13, ':') || !at(text, 16, ':')) {
    return std::nullopt;
  }
  const year_month_day date{std::chrono::year(*year), std::chrono::month(static_cast<unsigned>(*month)),
                            std::chrono::day(static_cast<unsigned>(*day))};
  if (!date.ok() || *hour > 23 || *minute > 59 || *second > 60) return std::nullopt;
  size_t pos = 19;
  nanoseconds fraction{0};
  if (at(text, pos, '.')) {
    ++pos;
    int64_t scale = 100'000'000;
    const size_t start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      fraction += nanoseconds((text[pos] - '0') * scale);
      scale /= 10;
      ++pos;
    }
    if (pos == start) return std::nullopt;
  }
  minutes offset{0};
  if (at(text, pos, 'Z') || at(text, pos, 'z')) {
    ++pos;
  } else if (at(text, pos, '+') || at(text, pos, '-')) {
    const auto hours = number(text, pos + 1, 2), mins = number(text, pos + 4, 2);
    if (!hours || !mins || !at(text, pos + 3, ':') || *hours > 23 || *mins > 59) return std::nullopt;
    offset = minutes(*hours * 60 + *mins) * (text[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;
  const sys_seconds seconds = sys_days(date) + hours(*hour) + minutes(*minute) + std::chrono::seconds(*second);
  return time_point_cast<system_clock::duration>(seconds - offset + fraction);
}

}  // namespace nicproxy::k8s

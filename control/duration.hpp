#pragma once
// Go duration strings as KubeProxyConfiguration writes them ("15m0s", "1h", "250ms",
// "1h30m", "1.5s"): a sequence of decimal numbers, each with a unit h, m, s, ms, us (or
// µs), ns; "0" alone is zero. Negative values are rejected (no setting here takes one).
// The one parser for every duration in the configuration.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace nicproxy {

/// The duration, or nullopt when `text` is not a non-negative Go duration.
std::optional<std::chrono::nanoseconds> parseGoDuration(std::string_view text);

/// A duration as Go's time.Duration.String() writes it, to millisecond precision:
/// "0s", "500ms", "1.5s", "1m30s", "24h0m0s". parseGoDuration reads it back exactly.
std::string formatGoDuration(std::chrono::milliseconds duration);

}  // namespace nicproxy

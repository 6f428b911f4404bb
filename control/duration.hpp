#pragma once
// Go duration strings as KubeProxyConfiguration writes them ("15m0s", "1h", "250ms",
// "1h30m"): a sequence of decimal numbers with units h, m, s, ms, us, ns. Negative and
// fractional values are rejected (no conntrack timeout needs them).
#include <chrono>
#include <optional>
#include <string_view>

namespace nicproxy {

/// The duration, or nullopt when `text` is not a non-negative Go duration.
std::optional<std::chrono::nanoseconds> parseGoDuration(std::string_view text);

}  // namespace nicproxy

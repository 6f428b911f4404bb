#pragma once
// The EndpointSlice annotation endpoints.kubernetes.io/last-change-trigger-time: when
// the change that produced this version of the slice happened (a Pod became ready, a
// Service changed). kube-proxy measures kubeproxy_network_programming_duration_seconds
// from it; so does nicproxy (control/sync_runner.hpp).
#include <chrono>
#include <optional>
#include <string_view>

namespace nicproxy::k8s {

inline constexpr std::string_view kLastChangeTriggerTimeAnnotation = "endpoints.kubernetes.io/last-change-trigger-time";

/// Parses an RFC 3339 time as Go's time.RFC3339Nano writes it ("2026-12-04T20:00:00Z",
/// "2026-12-04T20:00:00.123456789+01:00"); nullopt for anything else. As kube-proxy, a
/// value that does not parse is ignored by the caller, never an error of the object.
std::optional<std::chrono::system_clock::time_point> parseRfc3339(std::string_view text);

}  // namespace nicproxy::k8s

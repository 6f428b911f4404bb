#pragma once
// kube-proxy's metricsBindAddress and healthzBindAddress: "IP:port", IPv6 in brackets
// ("[::]:10256"). As kube-proxy's defaulting (AppendPortIfNeeded), a bare IP takes the
// default port; as its validation (validateHostPort), the IP must parse and the port
// must be 1-65535.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace nicproxy {

/// kube-proxy's ports (k8s.io/kubernetes/pkg/cluster/ports): ProxyStatusPort, ProxyHealthzPort.
inline constexpr uint16_t kDefaultMetricsPort = 10249;
inline constexpr uint16_t kDefaultHealthzPort = 10256;

struct BindAddress {
  std::string host;  // an IP literal, without brackets ("0.0.0.0", "::")
  uint16_t port = 0;
  bool operator==(const BindAddress&) const = default;
};

/// Parses "IP:port" or "[IPv6]:port"; a bare IP (v4, or v6 with or without brackets)
/// gets `defaultPort`. nullopt with `why` set ("... is not IP:port") otherwise.
std::optional<BindAddress> parseBindAddress(std::string_view text, uint16_t defaultPort, std::string& why);
/// "IP:port", IPv6 in brackets: the form parseBindAddress reads back.
std::string formatBindAddress(const BindAddress& address);

}  // namespace nicproxy

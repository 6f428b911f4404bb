#include "control/bind_address.hpp"

#include <arpa/inet.h>

#include <charconv>

namespace nicproxy {

namespace {

bool isIpv4(const std::string& text) {
  in_addr out{};
  return inet_pton(AF_INET, text.c_str(), &out) == 1;
}

bool isIpv6(const std::string& text) {
  in6_addr out{};
  return inet_pton(AF_INET6, text.c_str(), &out) == 1;
}

std::string quoted(std::string_view text) { return "\"" + std::string(text) + "\""; }

}  // namespace

std::optional<BindAddress> parseBindAddress(std::string_view text, uint16_t defaultPort, std::string& why) {
  const std::string whole(text);
  // A bare address: kube-proxy appends the default port.
  if (isIpv4(whole) || isIpv6(whole)) return BindAddress{whole, defaultPort};
  std::string host;
  std::string_view portText;
  if (text.starts_with('[')) {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) {
      why = quoted(text) + " has no ']' after its IPv6 address";
      return std::nullopt;
    }
    host = std::string(text.substr(1, close - 1));
    if (close + 1 < text.size() && text[close + 1] != ':') {
      why = quoted(text) + " is not IP:port";
      return std::nullopt;
    }
    if (!isIpv6(host)) {
      why = quoted(host) + " in " + quoted(text) + " is not an IPv6 address";
      return std::nullopt;
    }
    if (close + 1 == text.size()) return BindAddress{std::move(host), defaultPort};  // "[::1]"
    portText = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) {
      why = quoted(text) + " is not IP:port (an IPv6 address goes in brackets: [::]:10256)";
      return std::nullopt;
    }
    host = std::string(text.substr(0, colon));
    portText = text.substr(colon + 1);
    if (!isIpv4(host)) {
      why = quoted(host) + " in " + quoted(text) + " is not an IP address";
      return std::nullopt;
    }
  }
  unsigned port = 0;
  const auto [end, error] = std::from_chars(portText.data(), portText.data() + portText.size(), port);
  if (portText.empty() || error != std::errc() || end != portText.data() + portText.size() || port == 0 ||
      port > 65535) {
    why = "port " + quoted(portText) + " in " + quoted(text) + " is not a number from 1 to 65535";
    return std::nullopt;
  }
  return BindAddress{std::move(host), static_cast<uint16_t>(port)};
}

std::string formatBindAddress(const BindAddress& address) {
  const bool v6 = address.host.find(':') != std::string::npos;
  return (v6 ? "[" + address.host + "]" : address.host) + ":" + std::to_string(address.port);
}

}  // namespace nicproxy

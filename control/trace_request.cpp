#include "control/trace_request.hpp"

#include <charconv>

namespace nicproxy {

namespace {

std::optional<uint16_t> parsePort(std::string_view text) {
  unsigned value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size() || value == 0 || value > 65535) return std::nullopt;
  return static_cast<uint16_t>(value);
}

std::optional<Protocol> parseProtocol(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  if (lower == "tcp") return Protocol::Tcp;
  if (lower == "udp") return Protocol::Udp;
  if (lower == "sctp") return Protocol::Sctp;
  return std::nullopt;
}

}  // namespace

std::variant<TraceRequest, std::string> parseTraceRequest(std::string_view text) {
  const auto space = text.find(' ');
  if (space == std::string_view::npos) return std::string("want 'SRC[:PORT] DST:PORT/PROTO', got '") + std::string(text) + "'";
  const std::string_view source = text.substr(0, space);
  std::string_view destination = text.substr(space);
  while (!destination.empty() && destination.front() == ' ') destination.remove_prefix(1);
  while (!destination.empty() && destination.back() == ' ') destination.remove_suffix(1);

  TraceRequest request;
  const auto sourceColon = source.find(':');
  const auto sourceAddress = parseIpv4(source.substr(0, sourceColon));
  if (!sourceAddress) return "SRC: '" + std::string(source.substr(0, sourceColon)) + "' is not an IPv4 address";
  request.source = *sourceAddress;
  if (sourceColon != std::string_view::npos) {
    const auto port = parsePort(source.substr(sourceColon + 1));
    if (!port) return "SRC: '" + std::string(source.substr(sourceColon + 1)) + "' is not a port (1-65535)";
    request.sourcePort = *port;
  }

  const auto colon = destination.find(':');
  const auto slash = destination.find('/');
  if (colon == std::string_view::npos || slash == std::string_view::npos || slash < colon) {
    return "DST: want ADDRESS:PORT/PROTO (for example 10.96.0.10:80/tcp), got '" + std::string(destination) + "'";
  }
  const auto address = parseIpv4(destination.substr(0, colon));
  if (!address) return "DST: '" + std::string(destination.substr(0, colon)) + "' is not an IPv4 address";
  request.destination = *address;
  const auto port = parsePort(destination.substr(colon + 1, slash - colon - 1));
  if (!port) return "DST: '" + std::string(destination.substr(colon + 1, slash - colon - 1)) + "' is not a port (1-65535)";
  request.port = *port;
  const auto protocol = parseProtocol(destination.substr(slash + 1));
  if (!protocol) return "DST: protocol '" + std::string(destination.substr(slash + 1)) + "' is not tcp, udp or sctp";
  request.protocol = *protocol;
  return request;
}

std::string formatTraceRequest(const TraceRequest& request) {
  std::string text = formatIpv4(request.source);
  if (request.sourcePort != 0) text += ":" + std::to_string(request.sourcePort);
  const char* protocol = request.protocol == Protocol::Tcp ? "tcp" : request.protocol == Protocol::Udp ? "udp" : "sctp";
  return text + " " + formatIpv4(request.destination) + ":" + std::to_string(request.port) + "/" + protocol;
}

}  // namespace nicproxy

#pragma once
// What `nicproxy trace SRC DST:PORT/PROTO` asks the running data path: the packet's
// source (an address, optionally with its port) and its destination frontend. Parsed
// here, without DPDK, by both the client (daemon/trace_command) and the telemetry
// command that answers it (dpdk_app/inspect), so that both accept exactly one syntax.
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "control/model.hpp"
#include "control/net.hpp"

namespace nicproxy {

struct TraceRequest {
  Ipv4 source = 0;
  uint16_t sourcePort = 0;  // 0: not given (the backend Maglev picks depends on it)
  Ipv4 destination = 0;
  uint16_t port = 0;
  Protocol protocol = Protocol::Tcp;
};

/// Parses "SRC[:SPORT] DST:PORT/PROTO" (PROTO tcp, udp or sctp, any case; one or more
/// spaces between the two). Returns the request, or an error naming the bad part.
std::variant<TraceRequest, std::string> parseTraceRequest(std::string_view text);

/// The request in the form parseTraceRequest() reads.
std::string formatTraceRequest(const TraceRequest& request);

}  // namespace nicproxy

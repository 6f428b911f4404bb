#pragma once
// Names the kernel dataplanes derive from a service port, exactly as kube-proxy
// derives them, and the check that keeps names taken from the cluster out of rules
// and comments unless they are plain DNS/IANA names.
#include <string>
#include <string_view>

#include "control/model.hpp"

namespace nicproxy {

/// base32(sha256(text)), RFC 4648 alphabet with padding, as Go's base32.StdEncoding.
std::string sha256Base32(std::string_view text);

/// kube-proxy's portProtoHash: the first 16 characters of base32(sha256(name + protocol)),
/// with name "namespace/service:port" and protocol lowercase ("tcp").
std::string portProtoHash(const ServicePortName& name);
/// The same with the endpoint "ip:port" appended to the hashed text (KUBE-SEP-).
std::string portProtoEndpointHash(const ServicePortName& name, std::string_view endpoint);

/// "tcp", "udp", "sctp".
const char* protocolLower(Protocol protocol);

/// True when the namespace, service and port names contain only [a-z0-9.-] (the
/// namespace and service) and [a-z0-9-] (the port), so they can go into a rule, a
/// comment or an nft chain name without quoting. The API server enforces this; a
/// services file need not.
bool isSafeServicePortName(const ServicePortName& name);

}  // namespace nicproxy

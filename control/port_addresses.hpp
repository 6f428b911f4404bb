#pragma once
// Per-node DPDK port addresses. A ConfigMap shared by every node of a DaemonSet cannot
// hold each node's address, so dpdk.ports[i].address may be left out of it (with
// dpdk.ports[i].prefixLength given instead). Each port's address is then, first found:
//   1. --dpdk-port-address i=CIDR        (also overrides an address in the file)
//   2. dpdk.ports[i].address             (the file)
//   3. NICPROXY_DPDK_PORT<i>_ADDRESS=CIDR (the environment)
//   4. the Node object's IPv4 InternalIP  (GET /api/v1/nodes/{nodeName})
// The same order as the node name's (control/node_identity.hpp): flag, file, environment,
// then what the system says. A bare address (no "/n") takes prefixLength, or the
// file's address's length. Then every check parseConfig makes on addresses runs again.
// A port whose address is the Node's InternalIP carries the node's own traffic: unless
// the file sets dpdk.ports[i].exceptionPath, it gets a "tap" exception interface.
// Pure: the environment and the Node lookup come in as functions, for the tests.
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "control/config.hpp"
#include "control/net.hpp"

namespace nicproxy {

/// What the Node lookup found: an address, or why there is none.
struct NodeAddressLookup {
  std::optional<Ipv4> address;
  std::string origin;  // "the InternalIP of Node node-a (https://10.0.0.1:6443)", for logs
  std::string error;   // "Node node-a is not known to the API server (HTTP 404)", ...
};

struct PortAddressSources {
  std::vector<std::string> flags;  // --dpdk-port-address values, each "INDEX=CIDR"
  /// Reads one environment variable; nullopt when unset. Unset function: none is set.
  std::function<std::optional<std::string>(const std::string& name)> getenv;
  /// The Node's InternalIP. Called at most once, and only if a port needs it. When
  /// unset, `noNodeLookup` says why (no API server: the services come from a file).
  std::function<NodeAddressLookup()> nodeInternalIp;
  std::string noNodeLookup;
};

struct PortAddressResolution {
  std::vector<std::string> errors;  // each names the port: "dpdk.ports[1].address: ..."
  std::vector<std::string> notes;   // where each address not from the file came from
  bool ok() const { return errors.empty(); }
};

/// "NICPROXY_DPDK_PORT0_ADDRESS" for index 0.
std::string portAddressEnvName(size_t index);

/// Fills the addresses the file left out, applies the flags, and checks every port's
/// addresses again (portAddressErrors, portClashErrors). Errors leave `dpdk` partly
/// filled: the caller must not use it then.
PortAddressResolution resolvePortAddresses(DpdkConfig& dpdk, const PortAddressSources& sources);

}  // namespace nicproxy

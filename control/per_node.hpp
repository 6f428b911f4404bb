#pragma once
// The per-node values of a configuration shared by every node (a DaemonSet's
// ConfigMap): the node name (control/node_identity.hpp) and, in mode dpdk, the ports'
// addresses (control/port_addresses.hpp). The daemon and --validate both call this after
// loading the file, before they use or print anything, so they agree.
#include <string>
#include <vector>

#include "control/config.hpp"

namespace nicproxy {

/// The per-node command-line flags.
struct PerNodeOptions {
  std::string hostnameOverride;            // --hostname-override
  std::vector<std::string> portAddresses;  // --dpdk-port-address INDEX=CIDR, repeatable
};

struct PerNodeResult {
  std::vector<std::string> notes;   // where each value came from, for the log
  std::vector<std::string> errors;  // the configuration cannot be used
  bool ok() const { return errors.empty(); }
};

/// Sets config.nodeName and fills the DPDK ports' addresses, reading NODE_NAME,
/// NICPROXY_DPDK_PORT<i>_ADDRESS, the hostname and, when a port needs it, the Node
/// object from the API server that clientConnection names.
PerNodeResult applyPerNodeValues(Config& config, const PerNodeOptions& options);

}  // namespace nicproxy

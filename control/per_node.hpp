#pragma once
// The per-node values of a configuration shared by every node (a DaemonSet's
// ConfigMap): the node name (control/node_identity.hpp) and, in mode dpdk, the ports'
// addresses (control/port_addresses.hpp). The daemon, --validate and the config-file
// watch all load a file through loadNodeConfig(), so that they agree.
#include <filesystem>
#include <string>
#include <string_view>
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

/// A configuration as this node runs it.
struct NodeConfig {
  ConfigResult result;             // the file's warnings, the errors of every step
  std::vector<std::string> notes;  // where the per-node values came from
};

/// `text`, the content of `configPath`, parsed (relative paths against its folder), then
/// `--kubeconfig` applied (empty: none), then the per-node values (only on a good file).
NodeConfig loadNodeConfig(std::string_view text, const std::filesystem::path& configPath,
                          const std::filesystem::path& kubeconfigFlag, const PerNodeOptions& options);

}  // namespace nicproxy

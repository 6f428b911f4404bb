#pragma once
// `nicproxy --validate`: checks the configuration and the services file without
// touching any dataplane, and says what it found.
#include <filesystem>
#include <ostream>

#include "control/per_node.hpp"

namespace nicproxy {

/// Prints the services, service ports and endpoints found to `out` and every error
/// (with its key path, or object and field) to `err`. Returns 0 when there was no
/// error, 1 otherwise.
/// `kubeconfigFlag` is --kubeconfig (empty: none). With an API server as the source,
/// the kubeconfig (or in-cluster settings) is read and the server named; it is contacted
/// only for the Node's InternalIP, when a DPDK port's address comes from there.
/// `perNode`: the per-node flags; the node name and port addresses are resolved as the
/// daemon resolves them, and where each came from is printed.
int validateConfiguration(const std::filesystem::path& configPath, std::ostream& out, std::ostream& err,
                          const std::filesystem::path& kubeconfigFlag = {}, const PerNodeOptions& perNode = {});

}  // namespace nicproxy

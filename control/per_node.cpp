#include "control/per_node.hpp"

#include <cstdlib>

#include "control/k8s/node_address.hpp"
#include "control/node_identity.hpp"
#include "control/port_addresses.hpp"

namespace nicproxy {

PerNodeResult applyPerNodeValues(Config& config, const PerNodeOptions& options) {
  PerNodeResult result;
  const NodeName node = resolveNodeName(systemNodeNameSources(options.hostnameOverride, config.nodeName));
  if (!node.ok()) {
    result.errors.push_back(node.error);
    return result;
  }
  config.nodeName = node.name;
  result.notes.push_back("node name \"" + node.name + "\" from " + node.origin);

  if (config.mode != ProxyMode::Dpdk) {
    if (!options.portAddresses.empty()) {
      result.notes.push_back(std::string("--dpdk-port-address is not used in mode ") + proxyModeName(config.mode));
    }
    return result;
  }
  PortAddressSources sources;
  sources.flags = options.portAddresses;
  sources.getenv = [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe): before threads start
    return value == nullptr ? std::nullopt : std::optional<std::string>(value);
  };
  if (!config.usesApiServer()) {
    sources.noNodeLookup = "the services come from servicesFile, not from an API server";
  } else {
    sources.nodeInternalIp = [&config]() {
      NodeAddressLookup lookup;
      const k8s::ConnectionResult connection = k8s::resolveConnection(config.clientConnection.kubeconfig);
      if (!connection.connection) {
        lookup.error = connection.error;
        return lookup;
      }
      k8s::ClientTimeouts timeouts;
      timeouts.maxResponseBytes = config.clientConnection.maxResponseBytes;
      const k8s::NodeInternalIp found = k8s::fetchNodeInternalIp(*connection.connection, config.nodeName, timeouts);
      lookup.address = found.address;
      lookup.error = found.error;
      lookup.origin = "the InternalIP of Node " + config.nodeName + " (" + connection.connection->server + ")";
      return lookup;
    };
  }
  PortAddressResolution ports = resolvePortAddresses(config.dpdk, sources);
  result.notes.insert(result.notes.end(), ports.notes.begin(), ports.notes.end());
  result.errors = std::move(ports.errors);
  return result;
}

NodeConfig loadNodeConfig(std::string_view text, const std::filesystem::path& configPath,
                          const std::filesystem::path& kubeconfigFlag, const PerNodeOptions& options) {
  NodeConfig loaded{parseConfig(text, configPath.parent_path()), {}};
  applyKubeconfigFlag(loaded.result, kubeconfigFlag);
  if (!loaded.result.ok()) return loaded;
  PerNodeResult node = applyPerNodeValues(*loaded.result.config, options);
  loaded.notes = std::move(node.notes);
  loaded.result.errors = std::move(node.errors);
  return loaded;
}

}  // namespace nicproxy

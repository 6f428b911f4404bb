#include "control/validate.hpp"

#include <spdlog/fmt/fmt.h>

#include "control/arp_owners.hpp"
#include "control/change_tracker.hpp"
#include "control/config.hpp"
#include "control/config_exception.hpp"
#include "control/endpoints.hpp"
#include "control/json_reader.hpp"
#include "control/k8s/kubeconfig.hpp"
#include "control/services_file.hpp"

namespace nicproxy {

namespace {

std::string describeFrontends(const ServicePort& port) {
  std::string text;
  auto add = [&text](const std::string& part) { text += (text.empty() ? "" : " ") + part; };
  for (Ipv4 ip : port.clusterIPs) add(fmt::format("{}:{}", formatIpv4(ip), port.port));
  if (port.nodePort != 0) add(fmt::format("nodePort {}", port.nodePort));
  for (Ipv4 ip : port.externalIPs) add(fmt::format("external {}:{}", formatIpv4(ip), port.port));
  for (Ipv4 ip : port.loadBalancerIPs) add(fmt::format("loadBalancer {}:{}", formatIpv4(ip), port.port));
  if (port.healthCheckNodePort != 0) add(fmt::format("healthCheckNodePort {}", port.healthCheckNodePort));
  return text;
}

// "exception interface nicproxy0 (tap, addresses from the host)", or why there is none.
std::string describeExceptionPath(const DpdkPortConfig& port, size_t index) {
  const ExceptionPathConfig& exception = port.exception;
  const bool maybeTap = !exception.kindFromFile && port.addressUnresolved;  // tap if the InternalIP is taken
  if (exception.kind == ExceptionPathKind::None && !maybeTap) return "no exception path";
  return fmt::format("exception interface {} ({}, addresses {})", exceptionInterfaceName(port, index),
                     maybeTap ? "tap if the address is the Node's InternalIP" : exceptionPathKindName(exception.kind),
                     exception.configureAddresses ? "set by nicproxy" : "left to the host");
}

}  // namespace

int validateConfiguration(const std::filesystem::path& configPath, std::ostream& out, std::ostream& err,
                          const std::filesystem::path& kubeconfigFlag, const PerNodeOptions& perNode) {
  std::string readError;
  const std::optional<std::string> text = json::readFile(configPath, readError);
  if (!text) {
    err << configPath.string() << ": " << readError << "\n";
    return 1;
  }
  const NodeConfig loaded = loadNodeConfig(*text, configPath, kubeconfigFlag, perNode);
  const ConfigResult& result = loaded.result;
  for (const std::string& e : result.errors) err << configPath.string() << ": " << e << "\n";
  for (const std::string& w : result.warnings) out << configPath.string() << ": warning: " << w << "\n";
  for (const std::string& note : loaded.notes) out << note << "\n";
  if (!result.ok()) return 1;
  const Config& config = *result.config;
  out << fmt::format("config {}: mode {}, node {}, {} port(s), scheduler {}\n", configPath.string(),
                     proxyModeName(config.mode), config.nodeName,
                     config.dpdk.ports.size(), schedulerName(config.dpdk.scheduler));
  for (size_t i = 0; i < config.dpdk.ports.size(); ++i) {
    const DpdkPortConfig& p = config.dpdk.ports[i];
    out << fmt::format("  port {}: {} {} address {}{}\n", i, p.isPci ? "pci" : "vdev", p.device,
                       p.addressUnresolved ? "per node (unused in this mode)" : formatIpv4Cidr(p.address),
                       p.gateway ? " gateway " + formatIpv4(*p.gateway) : "");
    out << "  port " << i << ": " << describeExceptionPath(p, i) << "\n";
  }

  if (config.usesApiServer()) {
    const k8s::ConnectionResult connection = k8s::resolveConnection(config.clientConnection.kubeconfig);
    if (!connection.connection) {
      err << connection.error << "\n";
      out << "configuration has errors\n";
      return 1;
    }
    out << fmt::format("API server {} ({}, {}); syncPeriod {} ms, minSyncPeriod {} ms\n", connection.connection->server,
                       connection.connection->origin, connection.connection->describeCredentials(),
                       config.syncPeriod.count(), config.minSyncPeriod.count());
    out << "configuration OK\n";
    return 0;
  }

  ServicesFileContents contents = loadServicesFile(config.servicesFile);
  for (const std::string& w : contents.warnings) out << config.servicesFile.string() << ": warning: " << w << "\n";
  for (const std::string& e : contents.errors) err << config.servicesFile.string() << ": " << e << "\n";
  const size_t serviceCount = contents.services.size();
  const size_t sliceCount = contents.slices.size();
  ChangeTracker tracker(config.nodeName);
  tracker.replaceAll(std::move(contents.services), std::move(contents.slices));
  const Snapshot snapshot = tracker.apply();
  out << fmt::format("services file {}: {} services, {} endpoint slices, {} service ports, {} endpoints\n",
                     config.servicesFile.string(), serviceCount, sliceCount, snapshot.table->size(),
                     snapshot.table->endpointCount());
  for (const auto& [name, port] : snapshot.table->ports()) {
    const std::vector<Endpoint> usable = usableEndpoints(*port);
    std::string endpoints;
    for (const Endpoint& e : usable) endpoints += fmt::format(" {}:{}", formatIpv4(e.address), e.port);
    out << fmt::format("  {} {} {} -> {} endpoint(s), {} usable:{}\n", name.toString(),
                       protocolName(name.protocol), describeFrontends(*port), port->endpoints.size(),
                       usable.size(), usable.empty() ? " none (connections are rejected)" : endpoints);
  }
  for (const std::string& w : arpOwnerWarnings(config, *snapshot.table)) out << "warning: " << w << "\n";
  const bool ok = contents.errors.empty() && !contents.unreadable;
  out << (ok ? "configuration OK\n" : "configuration has errors\n");
  return ok ? 0 : 1;
}

}  // namespace nicproxy

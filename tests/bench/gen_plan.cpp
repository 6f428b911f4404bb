#include "tests/bench/gen_plan.hpp"

#include <fstream>
#include <stdexcept>

#include <boost/json.hpp>

#include "control/net.hpp"

namespace nicproxy::bench {

namespace {

namespace json = boost::json;

json::object metadata(const std::string& name, int& version) {
  return json::object{{"name", name},
                      {"namespace", "bench"},
                      {"uid", "uid-" + name},
                      {"resourceVersion", std::to_string(++version)}};
}

struct PortSpec {
  const char* name;
  const char* protocol;
  uint16_t port;
  uint16_t targetPort;
};

json::object service(const std::string& name, uint32_t vip, const std::vector<PortSpec>& ports, int& version) {
  json::array specPorts;
  for (const PortSpec& p : ports) {
    specPorts.push_back(json::object{{"name", p.name}, {"port", p.port}, {"protocol", p.protocol}, {"targetPort", p.targetPort}});
  }
  const std::string ip = formatIpv4(vip);
  return json::object{{"apiVersion", "v1"},
                      {"kind", "Service"},
                      {"metadata", metadata(name, version)},
                      {"spec", json::object{{"clusterIP", ip},
                                            {"clusterIPs", json::array{json::value(ip)}},
                                            {"type", "ClusterIP"},
                                            {"ports", std::move(specPorts)}}}};
}

json::object endpointSlice(const std::string& name, const std::vector<uint32_t>& backends,
                           const std::vector<PortSpec>& ports, int& version) {
  json::object meta = metadata(name + "-slice", version);
  meta["labels"] = json::object{{"kubernetes.io/service-name", name}};
  json::array slicePorts;
  for (const PortSpec& p : ports) {
    slicePorts.push_back(json::object{{"name", p.name}, {"port", p.targetPort}, {"protocol", p.protocol}});
  }
  json::array endpoints;
  for (uint32_t b : backends) {
    endpoints.push_back(json::object{{"addresses", json::array{json::value(formatIpv4(b))}},
                                     {"nodeName", "bench"},
                                     {"conditions", json::object{{"ready", true}, {"serving", true}, {"terminating", false}}}});
  }
  return json::object{{"apiVersion", "discovery.k8s.io/v1"},
                      {"kind", "EndpointSlice"},
                      {"metadata", std::move(meta)},
                      {"addressType", "IPv4"},
                      {"ports", std::move(slicePorts)},
                      {"endpoints", std::move(endpoints)}};
}

void writeFile(const std::string& path, const json::value& value) {
  std::ofstream out(path);
  out << json::serialize(value) << '\n';
  if (!out) throw std::runtime_error("cannot write " + path);
}

}  // namespace

void writePlan(const GenPlan& plan, const PlanFiles& files) {
  int version = 1000;
  json::array items;
  const std::vector<PortSpec> benchPorts{{"tcp", "TCP", plan.servicePort, plan.backendPort},
                                         {"udp", "UDP", plan.servicePort, plan.backendPort}};
  for (uint32_t s = 0; s < plan.services; ++s) {
    const std::string name = "svc-" + std::to_string(s);
    std::vector<uint32_t> backends;
    for (uint32_t e = 0; e < plan.endpoints; ++e) backends.push_back(plan.backend(s, e));
    items.push_back(service(name, plan.vip(s), benchPorts, version));
    items.push_back(endpointSlice(name, backends, benchPorts, version));
  }
  items.push_back(service("guarded", GenPlan::kGuardedVip, benchPorts, version));
  items.push_back(endpointSlice("guarded", {GenPlan::kGuardedBackend}, benchPorts, version));
  const std::vector<PortSpec> flowgenPorts{{"udp", "UDP", GenPlan::kFlowgenPort, plan.backendPort}};
  for (uint32_t i = 0; i < files.flowgenFlows; ++i) {
    const std::string name = "flowgen-" + std::to_string(i);
    std::vector<uint32_t> backends;
    for (uint32_t e = 0; e < plan.endpoints; ++e) backends.push_back(plan.backend(i, e));
    items.push_back(service(name, GenPlan::kFlowgenVipBase + i, flowgenPorts, version));
    items.push_back(endpointSlice(name, backends, flowgenPorts, version));
  }
  writeFile(files.directory + "/services.json",
            json::object{{"apiVersion", "v1"}, {"kind", "List"}, {"items", std::move(items)}});

  // The bench backends are permanent neighbours (nicproxy never waits for ARP for them);
  // the guarded backend is not, so that its MAC comes from ARP.
  json::array neighbors;
  for (uint32_t i = 0; i < plan.backendAddresses; ++i) {
    neighbors.push_back(
        json::object{{"address", formatIpv4(GenPlan::kBackendBase + i)}, {"mac", files.generatorMac}});
  }
  json::array eal{"--lcores", files.lcores.c_str(), "--no-huge", "-m", "512", "--no-pci", "--no-shconf",
                  "--file-prefix", files.filePrefix.c_str(), "--log-level", "*:warning"};
  json::object port{{"device", files.device},
                    {"address", formatIpv4(plan.nodeAddress) + "/" + std::to_string(plan.nodePrefix)},
                    {"neighbors", std::move(neighbors)}};
  json::object dpdk{{"eal", std::move(eal)},
                    {"ports", json::array{std::move(port)}},
                    {"flowTableSize", files.flowTableSize},
                    {"workers", 1}};
  writeFile(files.directory + "/" + files.configName,
            json::object{{"mode", "dpdk"},
                         {"nodeName", "bench"},
                         {"servicesFile", "services.json"},
                         {"dpdk", std::move(dpdk)}});
}

}  // namespace nicproxy::bench

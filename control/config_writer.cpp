#include "control/config_writer.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "control/config_exception.hpp"
#include "control/config_kernel.hpp"
#include "control/config_kube.hpp"
#include "control/duration.hpp"
#include "control/yaml_json.hpp"

namespace nicproxy {
namespace {

using boost::json::array;
using boost::json::object;
using std::chrono::milliseconds;

boost::json::string duration(milliseconds value) { return boost::json::string(formatGoDuration(value)); }
boost::json::string duration(std::chrono::seconds value) { return duration(milliseconds(value)); }

array cidrs(const std::vector<Ipv4Cidr>& list) {
  array out;
  for (const Ipv4Cidr& cidr : list) out.emplace_back(formatIpv4Cidr(cidr));
  return out;
}

object portJson(const DpdkPortConfig& port, size_t index) {
  object out;
  out["device"] = port.device;
  out["address"] = formatIpv4Cidr(port.address);
  if (port.gateway) out["gateway"] = formatIpv4(*port.gateway);
  if (!port.neighbors.empty()) {
    array neighbors;
    for (const StaticNeighbor& n : port.neighbors) {
      neighbors.emplace_back(object{{"address", formatIpv4(n.address)}, {"mac", formatMac(n.mac)}});
    }
    out["neighbors"] = std::move(neighbors);
  }
  if (!port.snatAddresses.empty()) {
    array snat;
    for (Ipv4 ip : port.snatAddresses) snat.emplace_back(formatIpv4(ip));
    out["snatAddresses"] = std::move(snat);
  }
  out["exceptionPath"] = exceptionPathKindName(port.exception.kind);
  out["exceptionInterface"] = exceptionInterfaceName(port, index);
  out["exceptionAddresses"] = port.exception.configureAddresses ? "nicproxy" : "host";
  return out;
}

object dpdkJson(const DpdkConfig& dpdk) {
  object out;
  array eal;
  for (const std::string& arg : dpdk.eal) eal.emplace_back(arg);
  out["eal"] = std::move(eal);
  array ports;
  for (size_t i = 0; i < dpdk.ports.size(); ++i) ports.emplace_back(portJson(dpdk.ports[i], i));
  out["ports"] = std::move(ports);
  out["flowTableSize"] = dpdk.flowTableSize;
  out["scheduler"] = schedulerName(dpdk.scheduler);
  out["workers"] = dpdk.workers;
  out["kernelFallback"] = kernelFallbackName(dpdk.kernelFallback);
  out["ingress"] = object{{"dropInvalidSourceMac", dpdk.ingress.dropInvalidSourceMac},
                          {"dropMartianSources", dpdk.ingress.dropMartianSources},
                          {"verifyIpChecksum", dpdk.ingress.verifyIpChecksum},
                          {"dropSourceRoute", dpdk.ingress.dropSourceRoute}};
  out["replyRateLimit"] = object{{"perSecond", dpdk.replyRateLimit.perSecond}, {"burst", dpdk.replyRateLimit.burst}};
  out["fragments"] =
      object{{"maxDatagrams", dpdk.fragments.maxDatagrams}, {"timeout", duration(dpdk.fragments.timeout)}};
  out["exception"] = object{{"packetsPerSecond", dpdk.exception.packetsPerSecond},
                            {"burst", dpdk.exception.burst},
                            {"ringSize", dpdk.exception.ringSize}};
  return out;
}

object conntrackJson(const ConntrackConfig& c) {
  return object{{"tcpEstablishedTimeout", duration(c.tcpEstablishedTimeout)},
                {"tcpCloseWaitTimeout", duration(c.tcpCloseWaitTimeout)},
                {"udpTimeout", duration(c.udpTimeout)},
                {"udpStreamTimeout", duration(c.udpStreamTimeout)},
                {"tcpBeLiberal", c.tcpBeLiberal},
                {"tcpSynSentTimeout", duration(c.tcpSynSentTimeout)},
                {"tcpSynRecvTimeout", duration(c.tcpSynRecvTimeout)},
                {"tcpFinWaitTimeout", duration(c.tcpFinWaitTimeout)},
                {"tcpLastAckTimeout", duration(c.tcpLastAckTimeout)},
                {"tcpTimeWaitTimeout", duration(c.tcpTimeWaitTimeout)},
                {"tcpCloseTimeout", duration(c.tcpCloseTimeout)}};
}

}  // namespace

object effectiveConfigJson(const Config& config) {
  object out;
  out["apiVersion"] = kKubeProxyApiVersion;
  out["kind"] = kKubeProxyKind;
  out["mode"] = proxyModeName(config.mode);
  out["hostnameOverride"] = config.nodeName;  // kube-proxy's name for nicproxy's nodeName
  out["clusterCIDR"] = config.clusterCIDR ? formatIpv4Cidr(*config.clusterCIDR) : "";
  // null: every address, as kube-proxy writes an unset list.
  out["nodePortAddresses"] = config.nodePortAddresses.empty() ? boost::json::value(nullptr)
                                                              : boost::json::value(cidrs(config.nodePortAddresses));
  if (!config.servicesFile.empty()) out["servicesFile"] = config.servicesFile.string();
  out["clientConnection"] = object{{"kubeconfig", config.clientConnection.kubeconfig.string()},
                                   {"maxResponseBytes", config.clientConnection.maxResponseBytes}};
  out["syncPeriod"] = duration(config.syncPeriod);
  out["minSyncPeriod"] = duration(config.minSyncPeriod);
  out["serviceProxyName"] = config.serviceProxyName;
  out["metricsBindAddress"] = config.metricsBindAddress;
  out["healthzBindAddress"] = config.healthzBindAddress;
  out["iptables"] = object{{"masqueradeAll", config.iptables.masqueradeAll},
                           {"masqueradeBit", int{config.iptables.masqueradeBit}},
                           {"minSyncPeriod", duration(config.iptables.minSyncPeriod)},
                           {"syncPeriod", duration(config.iptables.syncPeriod)},
                           {"chainPrefix", config.iptables.chainPrefix}};
  out["nftables"] = object{{"masqueradeAll", config.nftables.masqueradeAll},
                           {"masqueradeBit", int{config.nftables.masqueradeBit}},
                           {"minSyncPeriod", duration(config.nftables.minSyncPeriod)},
                           {"syncPeriod", duration(config.nftables.syncPeriod)},
                           {"tableName", config.nftables.tableName}};
  out["ipvs"] = object{{"scheduler", config.ipvs.scheduler},
                       {"minSyncPeriod", duration(config.ipvs.minSyncPeriod)},
                       {"syncPeriod", duration(config.ipvs.syncPeriod)},
                       {"tcpTimeout", duration(config.ipvs.tcpTimeout)},
                       {"tcpFinTimeout", duration(config.ipvs.tcpFinTimeout)},
                       {"udpTimeout", duration(config.ipvs.udpTimeout)}};
  out["conntrack"] = conntrackJson(config.conntrack);
  if (config.mode == ProxyMode::Dpdk || !config.dpdk.ports.empty()) out["dpdk"] = dpdkJson(config.dpdk);
  return out;
}

std::string effectiveConfigYaml(const Config& config) { return json::toYaml(effectiveConfigJson(config)); }

std::string writeEffectiveConfig(const Config& config, const std::filesystem::path& path) {
  const std::string text = effectiveConfigYaml(config);
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!file) return path.string() + ": cannot write: " + std::strerror(errno);
  if (std::fwrite(text.data(), 1, text.size(), file.get()) != text.size() || std::fflush(file.get()) != 0) {
    return path.string() + ": cannot write: " + std::strerror(errno);
  }
  return {};
}

}  // namespace nicproxy

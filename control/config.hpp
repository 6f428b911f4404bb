#pragma once
// nicproxy's configuration: one JSON file whose field names follow
// KubeProxyConfiguration where kube-proxy has the same setting. Parsing collects
// every error with its key path ("dpdk.ports[0].address: ...") instead of stopping
// at the first, so an operator fixes a file in one pass.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "control/net.hpp"

namespace nicproxy {

enum class ProxyMode : uint8_t { Dpdk, Iptables, Ipvs, Nftables };
const char* proxyModeName(ProxyMode mode);  // "dpdk", "iptables", ...

enum class Scheduler : uint8_t { Random, RoundRobin, Maglev };
const char* schedulerName(Scheduler scheduler);
/// "random", "roundrobin", "maglev"; nullopt for anything else.
std::optional<Scheduler> schedulerFromName(std::string_view name);

struct DpdkPortConfig {
  std::string device;               // vdev string ("net_af_packet0,iface=veth0") or PCI address
  bool isPci = false;               // device is a PCI address (passed as -a), else --vdev
  Ipv4Cidr address;                 // the node's address on this port, with its subnet
  std::optional<Ipv4> gateway;      // next hop for destinations off the subnet
};

struct DpdkConfig {
  std::vector<std::string> eal;     // passed to rte_eal_init as given
  std::vector<DpdkPortConfig> ports;
  uint32_t flowTableSize = 1048576;
  Scheduler scheduler = Scheduler::Maglev;  // default; Service annotation nicproxy.io/scheduler overrides
  uint16_t workers = 0;                     // forwarding lcores to use; 0: every worker lcore of the EAL
};

/// conntrack.* as KubeProxyConfiguration names them; the DPDK flow table's timeouts.
struct ConntrackConfig {
  std::chrono::seconds tcpEstablishedTimeout{86400};  // kube-proxy's default 24h
  std::chrono::seconds tcpCloseWaitTimeout{3600};     // FIN/RST seen (kube-proxy's default 1h)
  std::chrono::seconds udpTimeout{30};                // one-way or not yet answered UDP
  std::chrono::seconds udpStreamTimeout{120};         // UDP that has seen replies
};

struct Config {
  ProxyMode mode = ProxyMode::Dpdk;
  std::string nodeName;
  std::optional<Ipv4Cidr> clusterCIDR;
  std::vector<Ipv4Cidr> nodePortAddresses;
  std::filesystem::path servicesFile;  // absolute (resolved against the config's folder); empty: none
  DpdkConfig dpdk;
  ConntrackConfig conntrack;
};

/// Either a Config or every error found, each "key.path: message".
struct ConfigResult {
  std::optional<Config> config;
  std::vector<std::string> errors;
  bool ok() const { return config.has_value() && errors.empty(); }
};

/// Parses JSON text. `baseDir` resolves a relative servicesFile.
ConfigResult parseConfig(std::string_view jsonText, const std::filesystem::path& baseDir);
/// Reads and parses a file; an unreadable file is one error saying why. Errors do not
/// repeat the file name: the caller puts it in front.
ConfigResult loadConfigFile(const std::filesystem::path& path);

}  // namespace nicproxy

#pragma once
// nicproxy's configuration: one JSON or YAML file, a KubeProxyConfiguration
// (kubeproxy.config.k8s.io/v1alpha1) with nicproxy's own fields beside kube-proxy's. Parsing collects
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

/// Which kernel dataplane runs beside DPDK in dpdk mode (`dpdk.kernelFallback`).
enum class KernelFallback : uint8_t { None, Iptables, Ipvs, Nftables };

/// A permanent neighbour (`ip neigh add ... nud permanent`): never asked for, never
/// replaced by ARP.
struct StaticNeighbor {
  Ipv4 address = 0;
  MacAddress mac{};
};

/// dpdk.ports[].exceptionPath: the kernel interface that gets every frame the data path
/// does not handle itself (docs/exception-path.md).
enum class ExceptionPathKind { None, Tap, VirtioUser };

/// The exception interface of one DPDK port.
struct ExceptionPathConfig {
  /// "tap" (DPDK's net_tap), "virtio-user" (needs /dev/vhost-net) or "none". Unset in the
  /// file: "tap" when the port carries the node's address (resolvePortAddresses took it
  /// from the Node's InternalIP), else "none" (kindFromFile false).
  ExceptionPathKind kind = ExceptionPathKind::None;
  bool kindFromFile = false;
  /// dpdk.ports[].exceptionInterface: the kernel interface's name (at most 15 bytes);
  /// empty in the file: "nicproxy<index>".
  std::string interface;
  /// dpdk.ports[].exceptionAddresses: "nicproxy" puts the port's address (and a default
  /// route through the gateway) on the interface; "host" (the default) leaves that to
  /// the host's network manager.
  bool configureAddresses = false;
};

struct DpdkPortConfig {
  std::string device;               // vdev string ("net_af_packet0,iface=veth0") or PCI address
  bool isPci = false;               // device is a PCI address (passed as -a), else --vdev
  Ipv4Cidr address;                 // the node's address on this port, with its subnet
  // Per node (docs/configuration.md, "Per-node values"): a shared file may leave `address`
  // out; resolvePortAddresses (control/port_addresses.hpp) then fills it before anything
  // uses the port, from --dpdk-port-address, NICPROXY_DPDK_PORT<i>_ADDRESS or the Node's
  // InternalIP. `prefixLength` is the subnet length for an address that comes without one.
  bool addressUnresolved = false;
  std::optional<uint8_t> prefixLength;
  std::optional<Ipv4> gateway;      // next hop for destinations off the subnet
  std::vector<StaticNeighbor> neighbors;  // on the port's subnet
  // More SNAT source addresses besides `address` (which is always one), on the port's
  // subnet: each multiplies the connections a worker can open to one backend port.
  std::vector<Ipv4> snatAddresses;
  ExceptionPathConfig exception;    // dpdk.ports[].exceptionPath and friends
};

/// dpdk.exception: what every port's exception path may carry (docs/exception-path.md).
struct ExceptionLimitsConfig {
  uint32_t packetsPerSecond = 200000;  // to the kernel, all workers together; 0: no limit
  uint32_t burst = 2000;               // taken at once before the average applies
  uint32_t ringSize = 4096;            // per ring (a power of two): workers -> kernel, kernel -> workers
};

/// dpdk.ingress: which checks the workers run on every received frame (docs/ingress.md).
/// All on by default; each can be switched off where it gets in the way.
struct IngressConfig {
  bool dropInvalidSourceMac = true;  // broadcast, multicast or all-zero source MAC
  bool dropMartianSources = true;    // 0/8, 127/8, 224/4, 240/4, subnet broadcasts, own addresses
  bool verifyIpChecksum = true;      // the NIC's verdict, else software
  bool dropSourceRoute = true;       // LSRR and SSRR options (and malformed option lengths)
};

/// dpdk.replyRateLimit: the RSTs and ICMP replies nicproxy originates (REJECT, echo
/// replies), per worker; Linux's net.ipv4.icmp_msgs_per_sec and icmp_msgs_burst.
struct ReplyRateLimitConfig {
  uint32_t perSecond = 1000;  // average per worker; 0: no limit
  uint32_t burst = 50;        // sent at once before the average applies
};

/// dpdk.fragments: IPv4 reassembly on each worker (docs/fragments.md).
struct FragmentsConfig {
  uint32_t maxDatagrams = 1024;               // incomplete datagrams held per worker; 0: no reassembly
  std::chrono::milliseconds timeout{5000};    // an incomplete datagram is dropped after this long
};

/// The most dpdk.ports the data path takes (dpdk_app's kMaxPorts is this constant).
inline constexpr size_t kMaxDpdkPorts = 8;

struct DpdkConfig {
  std::vector<std::string> eal;     // passed to rte_eal_init as given
  std::vector<DpdkPortConfig> ports;
  uint32_t flowTableSize = 1048576;
  Scheduler scheduler = Scheduler::Maglev;  // default; Service annotation nicproxy.io/scheduler overrides
  uint16_t workers = 0;                     // forwarding lcores to use; 0: every worker lcore of the EAL
  KernelFallback kernelFallback = KernelFallback::None;  // kernel dataplane programmed as well
  IngressConfig ingress;
  ReplyRateLimitConfig replyRateLimit;
  FragmentsConfig fragments;
  ExceptionLimitsConfig exception;
};

/// KubeProxyIPTablesConfiguration's fields, plus nicproxy's chain prefix.
struct IptablesConfig {
  bool masqueradeAll = false;
  uint8_t masqueradeBit = 14;                            // the mark is 1 << masqueradeBit
  std::chrono::milliseconds minSyncPeriod{1000};
  std::chrono::milliseconds syncPeriod{30000};
  std::string chainPrefix = "KUBE";                      // "KUBE-SERVICES", "KUBE-SVC-..."; 1..7 of [A-Z0-9]
};

/// KubeProxyNFTablesConfiguration's fields, plus nicproxy's table name.
struct NftablesConfig {
  bool masqueradeAll = false;
  uint8_t masqueradeBit = 14;
  std::chrono::milliseconds minSyncPeriod{1000};
  std::chrono::milliseconds syncPeriod{30000};
  std::string tableName = "kube-proxy";                  // table `ip <tableName>`
};

/// KubeProxyIPVSConfiguration's fields nicproxy reads.
struct IpvsConfig {
  std::string scheduler = "rr";                          // rr, wrr, lc, wlc, sh, dh, sed, nq, mh
  std::chrono::milliseconds minSyncPeriod{1000};
  std::chrono::milliseconds syncPeriod{30000};
  // IPVS connection timeouts (ipvsadm --set); 0: leave the kernel's as they are.
  std::chrono::milliseconds tcpTimeout{0};
  std::chrono::milliseconds tcpFinTimeout{0};
  std::chrono::milliseconds udpTimeout{0};
};

/// conntrack.*: the DPDK flow table's TCP tracking. The first five fields are
/// KubeProxyConfiguration's (same names and defaults); the other TCP timeouts are nicproxy's,
/// named after Linux's nf_conntrack_tcp_timeout_* sysctls, one per conntrack state.
struct ConntrackConfig {
  std::chrono::seconds tcpEstablishedTimeout{86400};  // ESTABLISHED (kube-proxy's default 24h)
  std::chrono::seconds tcpCloseWaitTimeout{3600};     // CLOSE_WAIT: one FIN, acknowledged (kube-proxy's 1h)
  std::chrono::seconds udpTimeout{30};                // one-way or not yet answered UDP
  std::chrono::seconds udpStreamTimeout{120};         // UDP that has seen replies
  bool tcpBeLiberal = false;                          // true: forward TCP segments outside the
                                                      // window (RST and FIN are still checked)
  std::chrono::seconds tcpSynSentTimeout{30};         // SYN_SENT: the client's SYN, no answer yet
  std::chrono::seconds tcpSynRecvTimeout{30};         // SYN_RECV: the backend's SYN-ACK, no final ACK yet
  std::chrono::seconds tcpFinWaitTimeout{120};        // FIN_WAIT: one FIN, not yet acknowledged
  std::chrono::seconds tcpLastAckTimeout{30};         // LAST_ACK: FINs from both sides
  std::chrono::seconds tcpTimeWaitTimeout{120};       // TIME_WAIT: both FINs acknowledged
  std::chrono::seconds tcpCloseTimeout{10};           // CLOSE: a RST was seen
};

/// KubeProxyConfiguration's clientConnection; only the kubeconfig is used, and
/// maxResponseBytes, nicproxy's own.
struct ClientConnectionConfig {
  std::filesystem::path kubeconfig;  // absolute; empty: in-cluster settings (unless servicesFile)
  /// The largest API server response body (one list page) and the largest single watch
  /// event, counted after gzip decompression. At least 1 MiB (etcd stores objects up to 1.5 MiB).
  uint64_t maxResponseBytes = uint64_t{256} << 20;
};

struct Config {
  ProxyMode mode = ProxyMode::Dpdk;
  std::string nodeName;
  std::optional<Ipv4Cidr> clusterCIDR;
  std::vector<Ipv4Cidr> nodePortAddresses;
  std::filesystem::path servicesFile;  // absolute (resolved against the config's folder); empty: none
  DpdkConfig dpdk;                     // required in dpdk mode only
  IptablesConfig iptables;
  NftablesConfig nftables;
  IpvsConfig ipvs;
  // API server source (issue 3). kube-proxy's defaults: syncPeriod 30s, minSyncPeriod 1s.
  ClientConnectionConfig clientConnection;
  std::chrono::milliseconds syncPeriod{30000};
  std::chrono::milliseconds minSyncPeriod{1000};
  /// Services labelled service.kubernetes.io/service-proxy-name with this value are
  /// served; with any other value they are skipped. Empty: only unlabelled ones.
  std::string serviceProxyName;
  /// kube-proxy's metricsBindAddress and healthzBindAddress ("IP:port"; kube-proxy's
  /// defaults). Served by daemon/ (issue 12).
  std::string metricsBindAddress = "127.0.0.1:10249";
  std::string healthzBindAddress = "0.0.0.0:10256";

  /// True when the services come from an API server (kubeconfig or in-cluster)
  /// rather than from servicesFile.
  bool usesApiServer() const { return servicesFile.empty(); }
  ConntrackConfig conntrack;
};

/// Either a Config or every error found, each "key.path: message"; warnings either way
/// (kube-proxy settings that nicproxy ignores), for the caller to log.
struct ConfigResult {
  std::optional<Config> config;
  std::vector<std::string> errors;
  std::vector<std::string> warnings;
  bool ok() const { return config.has_value() && errors.empty(); }
};

/// Parses JSON or YAML text (see yaml_json.hpp), a KubeProxyConfiguration with
/// nicproxy's own fields beside kube-proxy's. `baseDir` resolves a relative servicesFile.
ConfigResult parseConfig(std::string_view text, const std::filesystem::path& baseDir);
/// Reads and parses a file; an unreadable file is one error saying why. Errors do not
/// repeat the file name: the caller puts it in front.
ConfigResult loadConfigFile(const std::filesystem::path& path);

/// `--kubeconfig PATH` from the command line: replaces clientConnection.kubeconfig and
/// re-checks that servicesFile is not set as well (an error in `result` if it is).
void applyKubeconfigFlag(ConfigResult& result, const std::filesystem::path& kubeconfig);

}  // namespace nicproxy

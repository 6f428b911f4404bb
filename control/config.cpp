#include "control/config.hpp"

#include <algorithm>
#include <exception>
#include <string>
#include <utility>

#include "control/config_exception.hpp"
#include "control/config_kernel.hpp"
#include "control/config_kube.hpp"
#include "control/config_ports.hpp"
#include "control/duration.hpp"
#include "control/json_reader.hpp"
#include "control/yaml_json.hpp"

namespace nicproxy {
namespace {

using json::Errors;
using json::ObjectReader;
constexpr auto kStrict = ObjectReader::Nulls::Error;

constexpr uint32_t kMinFlowTableSize = 1024;
constexpr uint32_t kMaxFlowTableSize = 1U << 26;
constexpr int64_t kMaxWorkers = 128;
constexpr size_t kMaxExtraSnatAddresses = 7;  // dpdk_app's PortInfo::kMaxExtraSnatAddresses
constexpr int64_t kMaxRepliesPerSecond = 10000000;
constexpr int64_t kMaxReplyBurst = 1000000;
constexpr int64_t kMaxFragmentDatagrams = 65536;  // per worker; each may hold 8 mbufs
constexpr std::chrono::milliseconds kMinFragmentTimeout{100};
constexpr std::chrono::milliseconds kMaxFragmentTimeout{60000};

// conntrack.*: duration strings as KubeProxyConfiguration writes them ("24h0m0s").
// kube-proxy's own fields take its zero values (null, "0s") as "the default".
void readConntrack(ObjectReader& top, Errors& errors, IgnoredFields& ignored, ConntrackConfig& conntrack) {
  top.allowNull({"conntrack"});
  const auto* object = top.object("conntrack");
  if (object == nullptr) return;
  ObjectReader reader(*object, "conntrack", errors, kStrict);
  reader.allowNull({"tcpEstablishedTimeout", "tcpCloseWaitTimeout", "udpTimeout", "udpStreamTimeout", "tcpBeLiberal"});
  auto duration = [&reader](std::string_view key, std::chrono::seconds& out, bool zeroIsDefault = false) {
    const auto text = reader.string(key);
    if (!text) return;
    const auto value = parseGoDuration(*text);
    if (zeroIsDefault && value && value->count() == 0) return;
    if (!value || *value < std::chrono::seconds{1}) {
      reader.error(key, json::quote(*text) + " is not a duration of at least 1s (for example \"15m0s\")");
      return;
    }
    out = std::chrono::duration_cast<std::chrono::seconds>(*value);
  };
  duration("tcpEstablishedTimeout", conntrack.tcpEstablishedTimeout, true);
  duration("tcpCloseWaitTimeout", conntrack.tcpCloseWaitTimeout, true);
  duration("udpTimeout", conntrack.udpTimeout, true);
  duration("udpStreamTimeout", conntrack.udpStreamTimeout, true);
  duration("tcpSynSentTimeout", conntrack.tcpSynSentTimeout);
  duration("tcpSynRecvTimeout", conntrack.tcpSynRecvTimeout);
  duration("tcpFinWaitTimeout", conntrack.tcpFinWaitTimeout);
  duration("tcpLastAckTimeout", conntrack.tcpLastAckTimeout);
  duration("tcpTimeWaitTimeout", conntrack.tcpTimeWaitTimeout);
  duration("tcpCloseTimeout", conntrack.tcpCloseTimeout);
  if (const auto liberal = reader.boolean("tcpBeLiberal")) conntrack.tcpBeLiberal = *liberal;
  // kube-proxy's sysctl-only settings (maxPerCore, min): nicproxy has nothing to set for them.
  skipIgnoredKubeProxyFields(reader, "conntrack", errors, ignored);
  reader.rejectUnknownKeys();
}

std::optional<ProxyMode> readMode(ObjectReader& reader) {
  reader.allowNull({"mode"});
  const auto text = reader.string("mode");
  if (!text || text->empty()) return std::nullopt;  // "": kube-proxy's zero value, the default mode
  if (*text == "dpdk") return ProxyMode::Dpdk;
  if (*text == "iptables") return ProxyMode::Iptables;
  if (*text == "nftables") return ProxyMode::Nftables;
  if (*text == "ipvs") return ProxyMode::Ipvs;
  reader.error("mode", json::quote(*text) + " is not one of dpdk, iptables, ipvs, nftables");
  return std::nullopt;
}

std::optional<Ipv4Cidr> readCidr(const boost::json::value& value, const std::string& path, Errors& errors) {
  const auto text = json::asString(value, path, errors);
  if (!text) return std::nullopt;
  const auto cidr = parseIpv4Cidr(*text);
  if (!cidr) errors.push_back(path + ": " + json::quote(*text) + " is not a valid CIDR");
  return cidr;
}

// kube-proxy takes "v4cidr,v6cidr" on dual-stack clusters; nicproxy is IPv4-only so
// the IPv6 part is ignored rather than rejected, and the file works for both.
void readClusterCidr(ObjectReader& reader, Config& config) {
  reader.allowNull({"clusterCIDR"});
  const auto text = reader.string("clusterCIDR");
  if (!text) return;
  std::string_view rest = *text;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string_view part = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    if (looksLikeIpv6(part)) continue;
    const auto cidr = parseIpv4Cidr(part);
    if (!cidr) {
      reader.error("clusterCIDR", json::quote(part) + " is not a valid CIDR");
    } else if (config.clusterCIDR) {
      reader.error("clusterCIDR", "more than one IPv4 CIDR in " + json::quote(*text));
    } else {
      config.clusterCIDR = cidr;
    }
  }
}

// kube-proxy's list: CIDRs (IPv6 ones are skipped, as in clusterCIDR) and its keywords;
// "all" is 0.0.0.0/0, "primary" and "localhost" have no equivalent here.
void readNodePortAddresses(ObjectReader& reader, Errors& errors, Config& config) {
  reader.allowNull({"nodePortAddresses"});
  const auto* array = reader.array("nodePortAddresses");
  if (array == nullptr) return;
  for (size_t i = 0; i < array->size(); ++i) {
    const std::string path = json::indexPath(reader.pathOf("nodePortAddresses"), i);
    const auto* text = (*array)[i].if_string();
    if (text != nullptr && *text == "all") {
      config.nodePortAddresses.push_back(Ipv4Cidr{0, 0});
    } else if (text != nullptr && (*text == "primary" || *text == "localhost")) {
      errors.push_back(path + ": " + json::quote(*text) + " is a kube-proxy keyword nicproxy does not take; " +
                       "list the CIDRs of the node's addresses");
    } else if (text != nullptr && looksLikeIpv6(*text)) {
      continue;
    } else if (auto cidr = readCidr((*array)[i], path, errors)) {
      config.nodePortAddresses.push_back(*cidr);
    }
  }
}

void readServicesFile(ObjectReader& reader, Errors& errors, const std::filesystem::path& baseDir, Config& config) {
  const auto* value = reader.get("servicesFile");
  const auto text = value == nullptr ? std::nullopt : json::asString(*value, reader.pathOf("servicesFile"), errors);
  if (value == nullptr || (text && text->empty())) return;  // the API server is the source
  if (!text) return;
  const std::filesystem::path path(*text);
  config.servicesFile = path.is_absolute() ? path : (baseDir / path).lexically_normal();
}

void readClientConnection(ObjectReader& top, Errors& errors, IgnoredFields& ignored,
                          const std::filesystem::path& baseDir, Config& config) {
  top.allowNull({"clientConnection"});
  const auto* object = top.object("clientConnection");
  if (object == nullptr) return;
  ObjectReader reader(*object, "clientConnection", errors, kStrict);
  skipIgnoredKubeProxyFields(reader, "clientConnection", errors, ignored);  // qps, burst, contentType...
  reader.allowNull({"kubeconfig"});
  if (const auto path = reader.string("kubeconfig"); path && !path->empty()) {
    const std::filesystem::path p(*path);
    config.clientConnection.kubeconfig = p.is_absolute() ? p : (baseDir / p).lexically_normal();
  }
  constexpr int64_t kMinResponseBytes = int64_t{1} << 20;
  if (const auto bytes = reader.integer("maxResponseBytes", "a number of bytes"); bytes) {
    if (*bytes < kMinResponseBytes) {
      reader.error("maxResponseBytes", std::to_string(*bytes) + " is below the minimum of 1048576 (1 MiB)");
    } else {
      config.clientConnection.maxResponseBytes = static_cast<uint64_t>(*bytes);
    }
  }
  reader.rejectUnknownKeys();
}


void checkSource(ObjectReader& reader, const Config& config) {
  if (!config.servicesFile.empty() && !config.clientConnection.kubeconfig.empty()) {
    reader.error("servicesFile", "cannot be used together with an API server (clientConnection.kubeconfig " +
                                     config.clientConnection.kubeconfig.string() + "); choose one source");
  }
}

// dpdk.ports[].neighbors: [{"address": "10.0.0.2", "mac": "02:00:00:00:00:02"}]. Whether
// each is on the port's subnet is portAddressErrors' part (the address may come later).
void readStaticNeighbors(ObjectReader& port, Errors& errors, DpdkPortConfig& config) {
  const auto* array = port.array("neighbors");
  if (array == nullptr) return;
  for (size_t i = 0; i < array->size(); ++i) {
    const std::string path = json::indexPath(port.pathOf("neighbors"), i);
    const auto* object = json::asObject((*array)[i], path, errors);
    if (object == nullptr) continue;
    ObjectReader reader(*object, path, errors, kStrict);
    StaticNeighbor neighbor;
    bool good = true;
    if (const auto text = reader.string("address")) {
      const auto ip = parseIpv4(*text);
      if (!ip) {
        reader.error("address", json::quote(*text) + " is not a valid IPv4 address");
        good = false;
      } else {
        neighbor.address = *ip;
      }
    } else {
      if (reader.get("address") == nullptr) reader.error("address", "required");
      good = false;
    }
    if (const auto text = reader.string("mac")) {
      const auto mac = parseMac(*text);
      if (!mac) {
        reader.error("mac", json::quote(*text) + " is not a MAC address (six hex pairs separated by ':')");
        good = false;
      } else if (((*mac)[0] & 1) != 0 || *mac == MacAddress{}) {
        reader.error("mac", *text + " is not a unicast MAC address");
        good = false;
      } else {
        neighbor.mac = *mac;
      }
    } else {
      if (reader.get("mac") == nullptr) reader.error("mac", "required");
      good = false;
    }
    reader.rejectUnknownKeys();
    const bool duplicate = std::any_of(config.neighbors.begin(), config.neighbors.end(),
                                       [&](const StaticNeighbor& n) { return n.address == neighbor.address; });
    if (good && duplicate) {
      reader.error("address", formatIpv4(neighbor.address) + " is listed twice");
    } else if (good) {
      config.neighbors.push_back(neighbor);
    }
  }
}

// dpdk.ports[].snatAddresses: ["10.0.0.5", ...]. Which of them the port may own is
// portAddressErrors' part.
void readSnatAddresses(ObjectReader& port, Errors& errors, DpdkPortConfig& config) {
  const auto* array = port.array("snatAddresses");
  if (array == nullptr) return;
  if (array->size() > kMaxExtraSnatAddresses) {
    port.error("snatAddresses", std::to_string(array->size()) + " addresses; at most " +
                                    std::to_string(kMaxExtraSnatAddresses) + " (the port address is one more)");
    return;
  }
  for (size_t i = 0; i < array->size(); ++i) {
    const std::string path = json::indexPath(port.pathOf("snatAddresses"), i);
    const auto text = json::asString((*array)[i], path, errors);
    if (!text) continue;
    if (const auto ip = parseIpv4(*text)) {
      config.snatAddresses.push_back(*ip);
    } else {
      errors.push_back(path + ": " + json::quote(*text) + " is not a valid IPv4 address");
    }
  }
}

// dpdk.ports[].address, or (left out of a file shared by many nodes) prefixLength, the
// subnet length of an address resolvePortAddresses finds per node.
void readPortAddress(ObjectReader& reader, size_t index, DpdkPortConfig& port) {
  if (const auto length = reader.integer("prefixLength", "an integer from 1 to 32")) {
    if (*length < 1 || *length > 32) {
      reader.error("prefixLength", std::to_string(*length) + " is out of range 1..32");
    } else {
      port.prefixLength = static_cast<uint8_t>(*length);
    }
  }
  if (const auto text = reader.string("address")) {
    const auto cidr = parseIpv4Cidr(*text);
    if (!cidr) {
      reader.error("address", json::quote(*text) + " is not a valid CIDR");
    } else if (const std::string why = whyNotAPortAddress(*cidr); !why.empty()) {
      reader.error("address", why);
    } else {
      port.address = *cidr;
      if (port.prefixLength && *port.prefixLength != cidr->prefixLength) {
        reader.error("prefixLength", std::to_string(*port.prefixLength) + " differs from address " + *text);
      }
    }
  } else if (reader.get("address") == nullptr) {
    port.addressUnresolved = true;
    if (!port.prefixLength && reader.get("prefixLength") == nullptr) {
      const std::string i = std::to_string(index);
      reader.error("address", "required, or left out with prefixLength given, for an address found per node "
                              "(--dpdk-port-address " + i + "=CIDR, NICPROXY_DPDK_PORT" + i +
                              "_ADDRESS or the Node's InternalIP)");
    }
  }
}

std::optional<DpdkPortConfig> readPort(const boost::json::value& value, const std::string& path, size_t index,
                                       Errors& errors) {
  const auto* object = json::asObject(value, path, errors);
  if (object == nullptr) return std::nullopt;
  ObjectReader reader(*object, path, errors, kStrict);
  const size_t errorsBefore = errors.size();
  DpdkPortConfig port;

  if (const auto device = reader.string("device")) {
    if (device->empty()) reader.error("device", "must not be empty");
    port.device = *device;
    port.isPci = isPciAddress(*device);
  } else if (reader.get("device") == nullptr) {
    reader.error("device", "required");
  }
  readPortAddress(reader, index, port);
  if (const auto gateway = reader.string("gateway")) {
    if (const auto ip = parseIpv4(*gateway)) {
      port.gateway = ip;
    } else {
      reader.error("gateway", json::quote(*gateway) + " is not a valid IPv4 address");
    }
  }
  readStaticNeighbors(reader, errors, port);
  readSnatAddresses(reader, errors, port);
  readPortException(reader, port);
  reader.rejectUnknownKeys();
  // The checks against the subnet need every address read well, and the subnet itself.
  if (errors.size() == errorsBefore && !port.addressUnresolved) {
    for (std::string& error : portAddressErrors(port, path)) errors.push_back(std::move(error));
  }
  if (errors.size() != errorsBefore) return std::nullopt;
  return port;
}

void readPorts(ObjectReader& reader, Errors& errors, DpdkConfig& dpdk) {
  const auto* ports = reader.array("ports");
  if (ports == nullptr) {
    if (reader.get("ports") == nullptr) reader.error("ports", "required (at least one port)");
    return;
  }
  if (ports->empty()) reader.error("ports", "at least one port is required");
  if (ports->size() > kMaxDpdkPorts) {
    reader.error("ports", std::to_string(ports->size()) + " ports; the data path takes at most " +
                              std::to_string(kMaxDpdkPorts));
  }
  std::vector<std::pair<DeviceClaims, size_t>> claimed;  // each good port's device and index
  std::vector<size_t> indexOf;                            // dpdk.ports[k] is ports[indexOf[k]] in the file
  const auto pathOf = [&](size_t k) { return json::indexPath(reader.pathOf("ports"), indexOf[k]); };
  for (size_t i = 0; i < ports->size(); ++i) {
    const std::string path = json::indexPath(reader.pathOf("ports"), i);
    auto port = readPort((*ports)[i], path, i, errors);
    if (!port) continue;
    // One port per device: EAL would probe it once, or two ports would take each
    // other's frames, however the device string is spelled.
    DeviceClaims claims = deviceClaims(port->device);
    for (const auto& [other, index] : claimed) {
      const std::string why = deviceConflict(claims, other, json::indexPath(reader.pathOf("ports"), index));
      if (!why.empty()) errors.push_back(path + ".device: " + json::quote(port->device) + " " + why);
    }
    claimed.emplace_back(std::move(claims), i);
    for (std::string& error : portClashErrors(*port, path, dpdk.ports, pathOf)) errors.push_back(std::move(error));
    dpdk.ports.push_back(std::move(*port));
    indexOf.push_back(i);
  }
  // Names by index ("nicproxy1"): only meaningful when every port was read.
  if (dpdk.ports.size() == ports->size()) {
    for (std::string& error : exceptionInterfaceErrors(dpdk.ports)) errors.push_back(std::move(error));
  }
}

void readScheduler(ObjectReader& reader, DpdkConfig& dpdk) {
  const auto text = reader.string("scheduler");
  if (!text) return;
  if (const auto scheduler = schedulerFromName(*text)) {
    dpdk.scheduler = *scheduler;
  } else {
    reader.error("scheduler", json::quote(*text) + " is not one of random, roundrobin, maglev");
  }
}

// dpdk.ingress: {"verifyIpChecksum": false, ...}; absent keys keep their default (on).
void readIngress(ObjectReader& dpdk, Errors& errors, IngressConfig& ingress) {
  const auto* object = dpdk.object("ingress");
  if (object == nullptr) return;
  ObjectReader reader(*object, dpdk.pathOf("ingress"), errors, kStrict);
  auto flag = [&reader](std::string_view key, bool& out) {
    if (const auto value = reader.boolean(key)) out = *value;
  };
  flag("dropInvalidSourceMac", ingress.dropInvalidSourceMac);
  flag("dropMartianSources", ingress.dropMartianSources);
  flag("verifyIpChecksum", ingress.verifyIpChecksum);
  flag("dropSourceRoute", ingress.dropSourceRoute);
  reader.rejectUnknownKeys();
}

// dpdk.replyRateLimit: {"perSecond": 1000, "burst": 50}, either may be left out.
void readReplyRateLimit(ObjectReader& dpdk, Errors& errors, ReplyRateLimitConfig& limit) {
  const auto* object = dpdk.object("replyRateLimit");
  if (object == nullptr) return;
  ObjectReader reader(*object, dpdk.pathOf("replyRateLimit"), errors, kStrict);
  if (const auto perSecond = reader.integer("perSecond", "a non-negative integer")) {
    if (*perSecond < 0 || *perSecond > kMaxRepliesPerSecond) {
      reader.error("perSecond", std::to_string(*perSecond) + " is out of range 0.." +
                                    std::to_string(kMaxRepliesPerSecond) + " (0: no limit)");
    } else {
      limit.perSecond = static_cast<uint32_t>(*perSecond);
    }
  }
  if (const auto burst = reader.integer("burst", "a positive integer")) {
    if (*burst < 1 || *burst > kMaxReplyBurst) {
      reader.error("burst", std::to_string(*burst) + " is out of range 1.." + std::to_string(kMaxReplyBurst));
    } else {
      limit.burst = static_cast<uint32_t>(*burst);
    }
  }
  reader.rejectUnknownKeys();
}

// dpdk.fragments: {"maxDatagrams": 1024, "timeout": "5s"}.
void readFragments(ObjectReader& dpdk, Errors& errors, FragmentsConfig& fragments) {
  const auto* object = dpdk.object("fragments");
  if (object == nullptr) return;
  ObjectReader reader(*object, "dpdk.fragments", errors, kStrict);
  if (const auto count = reader.integer("maxDatagrams", "a non-negative integer")) {
    if (*count < 0 || *count > kMaxFragmentDatagrams) {
      reader.error("maxDatagrams", std::to_string(*count) + " is out of range 0.." + std::to_string(kMaxFragmentDatagrams));
    } else {
      fragments.maxDatagrams = static_cast<uint32_t>(*count);
    }
  }
  if (const auto text = reader.string("timeout")) {
    const auto value = parseGoDuration(*text);
    if (!value || *value < kMinFragmentTimeout || *value > kMaxFragmentTimeout) {
      reader.error("timeout", json::quote(*text) + R"( is not a duration from 100ms to 1m (for example "5s"))");
    } else {
      fragments.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(*value);
    }
  }
  reader.rejectUnknownKeys();
}

void readDpdk(ObjectReader& top, Errors& errors, DpdkConfig& dpdk, bool required) {
  const auto* object = top.object("dpdk");
  if (object == nullptr) {
    if (top.get("dpdk") == nullptr && required) top.error("dpdk", "required when mode is \"dpdk\"");
    return;
  }
  ObjectReader reader(*object, "dpdk", errors, kStrict);
  if (const auto* eal = reader.array("eal")) {
    for (size_t i = 0; i < eal->size(); ++i) {
      if (auto arg = json::asString((*eal)[i], json::indexPath("dpdk.eal", i), errors)) {
        dpdk.eal.push_back(std::move(*arg));
      }
    }
  }
  readPorts(reader, errors, dpdk);
  if (const auto size = reader.integer("flowTableSize", "a positive integer")) {
    if (*size < kMinFlowTableSize || *size > kMaxFlowTableSize) {
      reader.error("flowTableSize", std::to_string(*size) + " is out of range " + std::to_string(kMinFlowTableSize) +
                                        ".." + std::to_string(kMaxFlowTableSize));
    } else {
      dpdk.flowTableSize = static_cast<uint32_t>(*size);
    }
  }
  readScheduler(reader, dpdk);
  readKernelFallback(reader, dpdk);
  readIngress(reader, errors, dpdk.ingress);
  if (const auto workers = reader.integer("workers", "a non-negative integer")) {
    if (*workers < 0 || *workers > kMaxWorkers) {
      reader.error("workers", std::to_string(*workers) + " is out of range 0.." + std::to_string(kMaxWorkers));
    } else {
      dpdk.workers = static_cast<uint16_t>(*workers);
    }
  }
  readReplyRateLimit(reader, errors, dpdk.replyRateLimit);
  readFragments(reader, errors, dpdk.fragments);
  readExceptionLimits(reader, errors, dpdk.exception);
  reader.rejectUnknownKeys();
}

}  // namespace

void readDurationField(ObjectReader& reader, std::string_view key, std::chrono::milliseconds& out) {
  const auto text = reader.string(key);
  if (!text) return;
  const auto duration = parseGoDuration(*text);
  if (!duration) {
    reader.error(key, json::quote(*text) + R"( is not a duration such as "1s", "500ms" or "1m30s")");
  } else {
    out = std::chrono::duration_cast<std::chrono::milliseconds>(*duration);
  }
}

const char* proxyModeName(ProxyMode mode) {
  switch (mode) {
    case ProxyMode::Dpdk: return "dpdk";
    case ProxyMode::Iptables: return "iptables";
    case ProxyMode::Ipvs: return "ipvs";
    case ProxyMode::Nftables: return "nftables";
  }
  return "?";
}

std::optional<Scheduler> schedulerFromName(std::string_view name) {
  if (name == "random") return Scheduler::Random;
  if (name == "roundrobin") return Scheduler::RoundRobin;
  if (name == "maglev") return Scheduler::Maglev;
  return std::nullopt;
}

const char* schedulerName(Scheduler scheduler) {
  switch (scheduler) {
    case Scheduler::Random: return "random";
    case Scheduler::RoundRobin: return "roundrobin";
    case Scheduler::Maglev: return "maglev";
  }
  return "?";
}

ConfigResult parseConfig(std::string_view text, const std::filesystem::path& baseDir) {
  ConfigResult result;
  const auto document = json::parseJsonOrYaml(text, result.errors);
  if (!document) return result;
  const auto* object = document->if_object();
  if (object == nullptr) {
    result.errors.push_back("expected an object (keys and values) at the top, got " + json::describe(*document));
    return result;
  }

  Config config;
  IgnoredFields ignored;
  ObjectReader reader(*object, "", result.errors, kStrict);
  readKubeProxyHeader(reader);
  if (const auto mode = readMode(reader)) config.mode = *mode;
  if (auto nodeName = reader.string("nodeName")) config.nodeName = std::move(*nodeName);
  readHostnameOverride(reader, config);
  readClusterCidr(reader, config);
  readNodePortAddresses(reader, result.errors, config);
  readServicesFile(reader, result.errors, baseDir, config);
  readClientConnection(reader, result.errors, ignored, baseDir, config);
  readDurationField(reader, "syncPeriod", config.syncPeriod);
  readDurationField(reader, "minSyncPeriod", config.minSyncPeriod);
  if (auto name = reader.string("serviceProxyName")) config.serviceProxyName = std::move(*name);
  readBindAddresses(reader, config);
  checkSource(reader, config);
  readDpdk(reader, result.errors, config.dpdk, config.mode == ProxyMode::Dpdk);
  readKernelSections(reader, result.errors, ignored, config);
  readConntrack(reader, result.errors, ignored, config.conntrack);
  skipIgnoredKubeProxyFields(reader, "", result.errors, ignored);
  reader.rejectUnknownKeys();

  if (const std::string warning = ignoredFieldsWarning(ignored); !warning.empty()) result.warnings.push_back(warning);
  if (result.errors.empty()) result.config = std::move(config);
  return result;
}

ConfigResult loadConfigFile(const std::filesystem::path& path) {
  std::string error;
  const auto text = json::readFile(path, error);
  if (!text) {
    ConfigResult result;
    result.errors.push_back(error);
    return result;
  }
  return parseConfig(*text, path.parent_path());
}

void applyKubeconfigFlag(ConfigResult& result, const std::filesystem::path& kubeconfig) {
  if (!result.config || kubeconfig.empty()) return;
  Config& config = *result.config;
  config.clientConnection.kubeconfig = std::filesystem::absolute(kubeconfig).lexically_normal();
  if (!config.servicesFile.empty()) {
    result.errors.push_back("servicesFile: cannot be used together with an API server (--kubeconfig " +
                            kubeconfig.string() + "); choose one source");
    result.config.reset();
  }
}


}  // namespace nicproxy

#include "control/port_addresses.hpp"

#include <algorithm>
#include <charconv>
#include <map>
#include <string_view>

#include "control/config_ports.hpp"

namespace nicproxy {
namespace {

// "10.0.0.5/24" or a bare "10.0.0.5"; the length, if any, is the value's own.
struct AddressValue {
  Ipv4 ip = 0;
  std::optional<uint8_t> prefixLength;
};

std::optional<AddressValue> parseAddressValue(std::string_view text) {
  if (text.find('/') != std::string_view::npos) {
    const auto cidr = parseIpv4Cidr(text);
    if (!cidr) return std::nullopt;
    return AddressValue{cidr->address, cidr->prefixLength};
  }
  const auto ip = parseIpv4(text);
  if (!ip) return std::nullopt;
  return AddressValue{*ip, std::nullopt};
}

// --dpdk-port-address values by port index; errors for the malformed and the unknown.
std::map<size_t, std::string> flagsByPort(const std::vector<std::string>& flags, size_t portCount,
                                          std::vector<std::string>& errors) {
  std::map<size_t, std::string> byPort;
  for (const std::string& flag : flags) {
    const size_t equals = flag.find('=');
    size_t index = 0;
    const char* end = flag.data() + (equals == std::string::npos ? flag.size() : equals);
    const auto [at, ec] = std::from_chars(flag.data(), end, index);
    if (equals == std::string::npos || equals == 0 || ec != std::errc{} || at != end) {
      errors.push_back("--dpdk-port-address \"" + flag + "\": expected INDEX=CIDR (for example 0=10.0.0.5/24)");
    } else if (index >= portCount) {
      errors.push_back("--dpdk-port-address " + flag + ": there is no dpdk.ports[" + std::to_string(index) +
                       "] (the file has " + std::to_string(portCount) + ")");
    } else if (!byPort.emplace(index, flag.substr(equals + 1)).second) {
      errors.push_back("--dpdk-port-address " + flag + ": port " + std::to_string(index) + " is given twice");
    }
  }
  return byPort;
}

}  // namespace

std::string portAddressEnvName(size_t index) { return "NICPROXY_DPDK_PORT" + std::to_string(index) + "_ADDRESS"; }

PortAddressResolution resolvePortAddresses(DpdkConfig& dpdk, const PortAddressSources& sources) {
  PortAddressResolution result;
  const std::map<size_t, std::string> flags = flagsByPort(sources.flags, dpdk.ports.size(), result.errors);
  std::optional<NodeAddressLookup> node;  // asked once, when first needed
  std::map<size_t, std::string> originOf;  // ports whose address is not the file's
  std::vector<size_t> tapByDefault;        // ports given a "tap" exception path for the InternalIP

  for (size_t i = 0; i < dpdk.ports.size(); ++i) {
    DpdkPortConfig& port = dpdk.ports[i];
    const std::string path = "dpdk.ports[" + std::to_string(i) + "]";
    const std::string envName = portAddressEnvName(i);
    const std::optional<std::string> env = sources.getenv ? sources.getenv(envName) : std::nullopt;
    const bool envSet = env && !env->empty();

    // take(): a value from a flag or the environment ("spelled" as the user wrote it,
    // up to the '='), with the subnet length it lacks.
    const auto take = [&](const std::string& text, const std::string& spelled, const std::string& origin) {
      const auto value = parseAddressValue(text);
      if (!value) {
        result.errors.push_back(path + ".address: " + spelled + "\"" + text + "\" is not an IPv4 address or CIDR");
        return;
      }
      const uint8_t length =
          value->prefixLength.value_or(port.prefixLength.value_or(port.address.prefixLength));
      port.address = Ipv4Cidr{value->ip, length};
      port.addressUnresolved = false;
      originOf[i] = origin;
    };

    if (const auto flag = flags.find(i); flag != flags.end()) {
      take(flag->second, "--dpdk-port-address " + std::to_string(i) + "=",
           port.addressUnresolved ? std::string("--dpdk-port-address")
                                  : "--dpdk-port-address, over the config file's " + formatIpv4Cidr(port.address));
    } else if (!port.addressUnresolved) {
      if (envSet) result.notes.push_back(envName + " is not used: " + path + ".address is in the config file");
    } else if (envSet) {
      take(*env, envName + "=", envName);
    } else if (!sources.nodeInternalIp) {
      result.errors.push_back(path + ".address: not in the config file, no --dpdk-port-address " + std::to_string(i) +
                              "=CIDR, no " + envName + ", and the Node's InternalIP cannot be asked for: " +
                              sources.noNodeLookup);
    } else {
      if (!node) node = sources.nodeInternalIp();
      if (!node->address) {
        result.errors.push_back(path + ".address: not in the config file, no --dpdk-port-address " +
                                std::to_string(i) + "=CIDR, no " + envName + ", and no InternalIP: " + node->error);
      } else {
        // parseConfig refused an unresolved port without prefixLength.
        port.address = Ipv4Cidr{*node->address, port.prefixLength.value_or(32)};
        port.addressUnresolved = false;
        originOf[i] = node->origin;
        // The port carries the node's own address: without a way to the kernel, the
        // node would lose SSH, the kubelet and its own egress (docs/exception-path.md).
        if (!port.exception.kindFromFile) {
          port.exception.kind = ExceptionPathKind::Tap;
          tapByDefault.push_back(i);
        }
      }
    }
  }
  if (!result.errors.empty()) return result;

  // The checks parseConfig made, now on the addresses found. An error about a port whose
  // address came from elsewhere says from where: the file alone does not explain it.
  const auto pathOf = [](size_t k) { return "dpdk.ports[" + std::to_string(k) + "]"; };
  for (size_t i = 0; i < dpdk.ports.size(); ++i) {
    const DpdkPortConfig& port = dpdk.ports[i];
    std::vector<std::string> errors = portAddressErrors(port, pathOf(i));
    for (std::string& e : portClashErrors(port, pathOf(i), std::span(dpdk.ports).first(i), pathOf)) {
      errors.push_back(std::move(e));
    }
    const auto origin = originOf.find(i);
    for (std::string& e : errors) {
      if (origin != originOf.end()) e += " (address " + formatIpv4Cidr(port.address) + " from " + origin->second + ")";
      result.errors.push_back(std::move(e));
    }
    if (origin != originOf.end()) {
      result.notes.push_back(pathOf(i) + ".address " + formatIpv4Cidr(port.address) + " from " + origin->second);
    }
    if (std::find(tapByDefault.begin(), tapByDefault.end(), i) != tapByDefault.end()) {
      result.notes.push_back(pathOf(i) + ".exceptionPath tap: the port carries the Node's InternalIP "
                             "(set exceptionPath to \"none\" to do without)");
    }
    // A shared file may ask for addresses on the default interface that only the nodes
    // whose port takes the InternalIP get: elsewhere it has nothing to act on.
    if (port.exception.configureAddresses && port.exception.kind == ExceptionPathKind::None) {
      result.notes.push_back(pathOf(i) + ".exceptionAddresses \"nicproxy\" unused: no exception path (exceptionPath "
                             "is not set and the address is not the Node's InternalIP)");
    }
  }
  return result;
}

}  // namespace nicproxy

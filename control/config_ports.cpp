#include "control/config_ports.hpp"

#include <algorithm>
#include <cctype>

namespace nicproxy {
namespace {

bool isHex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
}

std::string lowerCase(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower;
}

}  // namespace

bool isHostOf(const Ipv4Cidr& subnet, Ipv4 ip) {
  if (!subnet.contains(ip)) return false;
  if (subnet.prefixLength > 30) return true;
  return ip != subnet.network() && ip != (subnet.network() | ~subnet.mask());
}

std::string whyNotAPortAddress(const Ipv4Cidr& cidr) {
  const Ipv4 ip = cidr.address;
  const std::string text = formatIpv4Cidr(cidr);
  if (cidr.prefixLength == 0) {
    return text + " is a /0 subnet, which would put every address on this port's link; give the port's own subnet";
  }
  if ((ip >> 24) == 0) return text + " is in 0.0.0.0/8 (\"this network\"), not a host address";
  if ((ip >> 24) == 127) return text + " is a loopback address";
  if ((ip >> 28) == 0xE) return text + " is a multicast address";
  if ((ip >> 28) == 0xF) return text + " is in 240.0.0.0/4 (reserved, and the limited broadcast)";
  if (ip == cidr.network() && !isHostOf(cidr, ip)) return text + " is the network address of its subnet, not a host";
  if (!isHostOf(cidr, ip)) return text + " is the broadcast address of its subnet, not a host";
  return {};
}

bool isPciAddress(std::string_view device) {
  device = device.substr(0, device.find(','));
  if (device.size() == 12) {
    if (device[4] != ':' || !isHex(device.substr(0, 4))) return false;
    device.remove_prefix(5);
  }
  return device.size() == 7 && isHex(device.substr(0, 2)) && device[2] == ':' && isHex(device.substr(3, 2)) &&
         device[5] == '.' && device[6] >= '0' && device[6] <= '7';
}

DeviceClaims deviceClaims(std::string_view device) {
  DeviceClaims claims;
  const size_t comma = device.find(',');
  const std::string_view name = device.substr(0, comma);
  if (isPciAddress(device)) {
    claims.device = lowerCase(name.size() == 7 ? "0000:" + std::string(name) : std::string(name));
    return claims;
  }
  claims.device = std::string(name);
  std::string_view args = comma == std::string_view::npos ? std::string_view{} : device.substr(comma + 1);
  while (!args.empty()) {
    const size_t next = args.find(',');
    const std::string_view arg = args.substr(0, next);
    args = next == std::string_view::npos ? std::string_view{} : args.substr(next + 1);
    const size_t equals = arg.find('=');
    if (equals == std::string_view::npos || arg.substr(0, equals).find("iface") == std::string_view::npos) continue;
    std::string interface(arg.substr(equals + 1));
    if (!interface.empty() &&
        std::find(claims.interfaces.begin(), claims.interfaces.end(), interface) == claims.interfaces.end()) {
      claims.interfaces.push_back(std::move(interface));
    }
  }
  return claims;
}

std::string deviceConflict(const DeviceClaims& a, const DeviceClaims& b, std::string_view otherPath) {
  if (a.device == b.device) return "is the same device as " + std::string(otherPath) + " (" + b.device + ")";
  for (const std::string& interface : a.interfaces) {
    if (std::find(b.interfaces.begin(), b.interfaces.end(), interface) != b.interfaces.end()) {
      return "uses interface " + interface + ", as " + std::string(otherPath) + " does";
    }
  }
  return {};
}

std::vector<std::string> portAddressErrors(const DpdkPortConfig& port, const std::string& path) {
  std::vector<std::string> errors;
  const Ipv4Cidr& subnet = port.address;
  if (const std::string why = whyNotAPortAddress(subnet); !why.empty()) {
    errors.push_back(path + ".address: " + why);
    return errors;  // the subnet the other checks need is not good
  }
  if (port.gateway) {
    const std::string gateway = formatIpv4(*port.gateway);
    if (!subnet.contains(*port.gateway)) {
      errors.push_back(path + ".gateway: " + gateway + " is not inside " + formatIpv4Cidr(subnet));
    } else if (!isHostOf(subnet, *port.gateway)) {
      errors.push_back(path + ".gateway: " + gateway + " is not a host address on " + formatIpv4Cidr(subnet));
    } else if (*port.gateway == subnet.address) {
      errors.push_back(path + ".gateway: " + gateway + " is the port's own address");
    }
    if (!errors.empty()) return errors;
  }
  for (size_t i = 0; i < port.neighbors.size(); ++i) {
    const Ipv4 ip = port.neighbors[i].address;
    if (!isHostOf(subnet, ip) || ip == subnet.address) {
      errors.push_back(path + ".neighbors[" + std::to_string(i) + "].address: " + formatIpv4(ip) +
                       " is not another host on " + formatIpv4Cidr(subnet));
    }
  }
  if (!errors.empty()) return errors;
  for (size_t i = 0; i < port.snatAddresses.size(); ++i) {
    const Ipv4 ip = port.snatAddresses[i];
    const auto fail = [&](const std::string& why) {
      errors.push_back(path + ".snatAddresses[" + std::to_string(i) + "]: " + formatIpv4(ip) + " " + why);
    };
    const auto earlier = port.snatAddresses.begin() + static_cast<std::ptrdiff_t>(i);
    if (!isHostOf(subnet, ip)) {
      fail("is not a host address on " + formatIpv4Cidr(subnet));
    } else if (ip == subnet.address) {
      fail("is the port's own address (a SNAT address already)");
    } else if (port.gateway && ip == *port.gateway) {
      fail("is the port's gateway");
    } else if (std::any_of(port.neighbors.begin(), port.neighbors.end(),
                           [&](const StaticNeighbor& n) { return n.address == ip; })) {
      fail("is a static neighbour (another host)");
    } else if (std::find(port.snatAddresses.begin(), earlier, ip) != earlier) {
      fail("is listed twice");
    }
  }
  return errors;
}

std::vector<std::string> portClashErrors(const DpdkPortConfig& port, const std::string& path,
                                         std::span<const DpdkPortConfig> earlier,
                                         const std::function<std::string(size_t)>& pathOf) {
  std::vector<std::string> errors;
  if (port.addressUnresolved) return errors;
  // A SNAT address names its port to the replies: no other port may claim it.
  for (size_t a = 0; a < port.snatAddresses.size(); ++a) {
    const Ipv4 ip = port.snatAddresses[a];
    for (size_t k = 0; k < earlier.size(); ++k) {
      const DpdkPortConfig& other = earlier[k];
      if (other.addressUnresolved) continue;
      if (other.address.address == ip ||
          std::find(other.snatAddresses.begin(), other.snatAddresses.end(), ip) != other.snatAddresses.end()) {
        errors.push_back(path + ".snatAddresses[" + std::to_string(a) + "]: " + formatIpv4(ip) +
                         " is already an address of " + pathOf(k));
      }
    }
  }
  for (size_t k = 0; k < earlier.size(); ++k) {
    const DpdkPortConfig& other = earlier[k];
    if (other.addressUnresolved) continue;
    // Two ports answering ARP for one address would each claim the other's replies
    // (easily done by two ports that both take the Node's InternalIP).
    if (other.address.address == port.address.address) {
      errors.push_back(path + ".address: " + formatIpv4(port.address.address) + " is also the address of " + pathOf(k));
    }
    if (std::find(other.snatAddresses.begin(), other.snatAddresses.end(), port.address.address) !=
        other.snatAddresses.end()) {
      errors.push_back(path + ".address: " + formatIpv4(port.address.address) + " is a SNAT address of " + pathOf(k));
    }
  }
  return errors;
}

}  // namespace nicproxy

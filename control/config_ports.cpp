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

}  // namespace nicproxy

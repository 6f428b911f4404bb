#include "drivers/local_addresses.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <algorithm>
#include <memory>

namespace nicproxy {

std::vector<Ipv4> listLocalAddresses() {
  ifaddrs* raw = nullptr;
  if (::getifaddrs(&raw) != 0) return {};
  const std::unique_ptr<ifaddrs, decltype(&::freeifaddrs)> list(raw, &::freeifaddrs);
  std::vector<Ipv4> out;
  for (const ifaddrs* a = raw; a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET || (a->ifa_flags & IFF_UP) == 0) continue;
    sockaddr_in in{};
    std::copy_n(reinterpret_cast<const char*>(a->ifa_addr), sizeof in, reinterpret_cast<char*>(&in));
    out.push_back(ntohl(in.sin_addr.s_addr));
  }
  return out;
}

std::vector<Ipv4> addressesIn(const std::vector<Ipv4Cidr>& cidrs, const std::vector<Ipv4>& local) {
  std::vector<Ipv4> out;
  for (Ipv4 ip : local) {
    const bool inside = std::any_of(cidrs.begin(), cidrs.end(), [ip](const Ipv4Cidr& c) { return c.contains(ip); });
    if (inside && std::find(out.begin(), out.end(), ip) == out.end()) out.push_back(ip);
  }
  return out;
}

}  // namespace nicproxy

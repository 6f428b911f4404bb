#pragma once
// The node's own IPv4 addresses, for NodePorts on nodePortAddresses (kube-proxy
// resolves the CIDRs to the addresses found on the node's interfaces).
#include <functional>
#include <vector>

#include "control/net.hpp"

namespace nicproxy {

using LocalAddressLister = std::function<std::vector<Ipv4>()>;

/// getifaddrs(3): every IPv4 address on an interface that is up.
std::vector<Ipv4> listLocalAddresses();
/// The addresses of `local` inside any of `cidrs`, in the order found, without duplicates.
std::vector<Ipv4> addressesIn(const std::vector<Ipv4Cidr>& cidrs, const std::vector<Ipv4>& local);

}  // namespace nicproxy

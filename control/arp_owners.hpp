#pragma once
// Which external and LB IPs nicproxy would answer ARP for although another host answers
// for them itself. In dpdk mode nicproxy answers ARP for every external / LB IP inside a
// port's subnet (as kube-proxy's users expect of a node that serves them); if that address
// is a port address, a gateway, a permanent neighbour (dpdk.ports[].neighbors) or an
// endpoint of any Service, two hosts answer and the segment's traffic for it goes to
// whichever answered last. The data path refuses to answer once it knows (see
// docs/neighbors.md); `nicproxy --validate` reports these from the configuration alone.
#include <string>
#include <vector>

#include "control/config.hpp"
#include "control/model.hpp"

namespace nicproxy {

/// One line per (service port, address) that another host owns, naming both; empty when
/// the configuration is not in dpdk mode. Deterministic order (service ports by name).
std::vector<std::string> arpOwnerWarnings(const Config& config, const ServiceTable& services);

}  // namespace nicproxy

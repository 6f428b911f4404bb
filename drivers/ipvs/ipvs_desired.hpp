#pragma once
// What the IPVS dataplane should hold for a ServiceTable, as kube-proxy's IPVS proxier
// (syncProxyRules, syncEndpoint) computes it: one virtual server per (cluster IP |
// external IP | LB IP | node address for the NodePort, port, protocol), its real
// servers, the addresses for kube-ipvs0 and the ipset entries. A pure function.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "control/model.hpp"
#include "drivers/ipvs/ipvs_netlink.hpp"
#include "drivers/ipvs/ipvs_rules.hpp"

namespace nicproxy {

struct IpvsDesiredOptions {
  std::string scheduler = "rr";  // ipvs.scheduler
  std::vector<Ipv4> nodeIPs;     // NodePort virtual servers go on these
};

struct IpvsVirtualServer {
  IpvsService service;
  /// The real servers, weight 1, ordered by (address, port). Empty when the port has no
  /// usable endpoint for this frontend's traffic policy: IPVS then finds no destination
  /// and the packet goes on to the local stack, which refuses it.
  std::vector<IpvsDestination> destinations;
  ServicePortName owner;  // the service port that asked for it
};

struct IpvsDesired {
  std::map<IpvsServiceKey, IpvsVirtualServer> servers;
  std::set<Ipv4> boundAddresses;  // cluster, external and LB IPs, for kube-ipvs0
  IpvsSetEntries sets;
  /// Virtual servers each service port owns, to find the ones a changed port touches.
  std::map<ServicePortName, std::vector<IpvsServiceKey>> byPort;
};

/// The whole desired state. Service ports that are not TCP or UDP are left out (IPVS
/// handles SCTP, nicproxy does not yet).
IpvsDesired buildIpvsDesired(const ServiceTable& table, const IpvsDesiredOptions& options);

}  // namespace nicproxy

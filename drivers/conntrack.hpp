#pragma once
// Which UDP conntrack entries to delete, as pure functions of the entries and the
// Service ports (the provider in conntrack_provider.hpp lists and deletes them).
//
// Why: a UDP "connection" never ends, so a client that keeps sending to a Service (DNS)
// keeps its entry, DNAT'ed to the same endpoint, after that endpoint is gone. Two rules,
// as kube-proxy has them:
// - at each sync, the entries to an endpoint that a changed port no longer reaches;
// - at each full sync, the reconciler: entries to a Service frontend whose reply comes
//   from no serving endpoint of that frontend. It repairs what the first rule missed
//   (nicproxy restarted, a delete failed).
// An entry is only ever considered when its original destination is a frontend of a
// UDP Service port: a cluster, external or load-balancer IP with the service port, or a
// node address with the node port. Nothing else is touched, and nothing is flushed.
#include <cstdint>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "control/model.hpp"
#include "drivers/conntrack_table.hpp"

namespace nicproxy {

/// The UDP frontends of some Service ports, each with a set of endpoint addresses.
class UdpFrontendIndex {
 public:
  /// `nodeAddresses`: where the node ports are open (nodePortAddresses on this node).
  explicit UdpFrontendIndex(const std::vector<Ipv4>& nodeAddresses);

  /// Adds `port`'s frontends with `addresses`; a port that is not UDP is ignored. Two
  /// ports on one frontend (a conflict) have their sets merged.
  void add(const ServicePort& port, const std::set<Ipv4>& addresses);
  bool empty() const { return byAddress_.empty() && byNodePort_.empty(); }
  /// The address sets of the frontend the entry was sent to; empty when its destination
  /// is no frontend here (then the entry is none of our business).
  std::vector<const std::set<Ipv4>*> find(const ConntrackEntry& entry) const;

 private:
  std::set<Ipv4> nodeAddresses_;
  std::map<std::pair<Ipv4, uint16_t>, std::set<Ipv4>> byAddress_;  // (IP, service port)
  std::map<uint16_t, std::set<Ipv4>> byNodePort_;                 // node port, on nodeAddresses_
};

/// The endpoint addresses that may keep their entries in the reconciler: kube-proxy's
/// serving endpoints, whatever the traffic policy (a policy change keeps existing flows).
std::set<Ipv4> servingAddresses(const ServicePort& port);

/// The addresses new connections to `before` could reach that `after` (nullptr: the
/// port is gone) no longer reaches.
std::set<Ipv4> removedEndpointAddresses(const ServicePort& before, const ServicePort* after);

/// Entries whose reply comes from one of the addresses `removed` holds for their frontend.
std::vector<ConntrackEntry> entriesToRemovedEndpoints(const std::vector<ConntrackEntry>& entries,
                                                      const UdpFrontendIndex& removed);

/// The reconciler: entries to a frontend of a UDP port in `ports` whose reply source is a
/// serving endpoint of no port on that frontend. Unlike kube-proxy, a port without
/// serving endpoints is not skipped: its clients then get the REJECT rule's ICMP error
/// instead of sending on into the endpoint that went away, which is also what the first
/// rule does when the last endpoint goes.
std::vector<ConntrackEntry> staleUdpEntries(const std::vector<ConntrackEntry>& entries,
                                            const ServiceTable::Map& ports, const std::vector<Ipv4>& nodeAddresses);

}  // namespace nicproxy

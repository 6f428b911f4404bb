#include "drivers/conntrack.hpp"

#include "control/endpoints.hpp"

namespace nicproxy {

UdpFrontendIndex::UdpFrontendIndex(const std::vector<Ipv4>& nodeAddresses)
    : nodeAddresses_(nodeAddresses.begin(), nodeAddresses.end()) {}

void UdpFrontendIndex::add(const ServicePort& port, const std::set<Ipv4>& addresses) {
  if (port.name.protocol != Protocol::Udp) return;
  for (const auto* ips : {&port.clusterIPs, &port.externalIPs, &port.loadBalancerIPs}) {
    for (Ipv4 ip : *ips) byAddress_[{ip, port.port}].insert(addresses.begin(), addresses.end());
  }
  if (port.nodePort != 0) byNodePort_[port.nodePort].insert(addresses.begin(), addresses.end());
}

std::vector<const std::set<Ipv4>*> UdpFrontendIndex::find(const ConntrackEntry& entry) const {
  std::vector<const std::set<Ipv4>*> found;
  if (const auto it = byAddress_.find({entry.origDst, entry.origDstPort}); it != byAddress_.end()) {
    found.push_back(&it->second);
  }
  if (nodeAddresses_.contains(entry.origDst)) {
    if (const auto it = byNodePort_.find(entry.origDstPort); it != byNodePort_.end()) found.push_back(&it->second);
  }
  return found;
}

std::set<Ipv4> servingAddresses(const ServicePort& port) {
  std::set<Ipv4> out;
  for (const Endpoint& e : port.endpoints) {
    if (e.serving) out.insert(e.address);
  }
  return out;
}

std::set<Ipv4> removedEndpointAddresses(const ServicePort& before, const ServicePort* after) {
  std::set<Ipv4> removed;
  for (const Endpoint& e : categorizeEndpoints(before).allReachable) removed.insert(e.address);
  if (after != nullptr) {
    for (const Endpoint& e : categorizeEndpoints(*after).allReachable) removed.erase(e.address);
  }
  return removed;
}

std::vector<ConntrackEntry> entriesToRemovedEndpoints(const std::vector<ConntrackEntry>& entries,
                                                      const UdpFrontendIndex& removed) {
  std::vector<ConntrackEntry> out;
  if (removed.empty()) return out;
  for (const ConntrackEntry& entry : entries) {
    for (const std::set<Ipv4>* addresses : removed.find(entry)) {
      if (addresses->contains(entry.replySrc)) {
        out.push_back(entry);
        break;
      }
    }
  }
  return out;
}

std::vector<ConntrackEntry> staleUdpEntries(const std::vector<ConntrackEntry>& entries,
                                            const ServiceTable::Map& ports, const std::vector<Ipv4>& nodeAddresses) {
  UdpFrontendIndex serving(nodeAddresses);
  for (const auto& [name, port] : ports) {
    if (name.protocol == Protocol::Udp) serving.add(*port, servingAddresses(*port));
  }
  std::vector<ConntrackEntry> out;
  if (serving.empty()) return out;
  for (const ConntrackEntry& entry : entries) {
    const auto found = serving.find(entry);
    if (found.empty()) continue;  // not sent to a Service frontend: not ours
    bool answered = false;
    for (const std::set<Ipv4>* addresses : found) answered = answered || addresses->contains(entry.replySrc);
    if (!answered) out.push_back(entry);
  }
  return out;
}

}  // namespace nicproxy

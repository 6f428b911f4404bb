#pragma once
// Checks across the Services of one services file, which no API server has checked:
// what the API server's allocators would refuse (the same Service twice, a clusterIP or
// node port already allocated, a node port outside the range) and what would make two
// Services fight over one frontend (an externalIP and port another Service answers on).
// Each problem names the key path of the item refused and the item it clashes with.
// `nicproxy --validate` and the daemon's reload both get these through
// parseServicesList, so they always agree.
#include <cstdint>
#include <string>
#include <vector>

#include "control/k8s/objects.hpp"

namespace nicproxy {

/// The API server's --service-node-port-range; KubeProxyConfiguration has no such field,
/// so the default 30000-32767 applies unless a caller says otherwise.
struct NodePortRange {
  uint16_t first = 30000;
  uint16_t last = 32767;
};

struct ServiceCheckOptions {
  NodePortRange nodePorts;
};

/// One decoded Service and where it came from ("items[3]"), in file order.
struct PlacedService {
  const k8s::Service* service;
  std::string where;
};
struct PlacedSlice {
  const k8s::EndpointSlice* slice;
  std::string where;
};

/// Every problem, each "items[N].key.path: message"; the later of two clashing items
/// is the one reported, naming the earlier. Empty when the set is consistent.
std::vector<std::string> checkServiceSet(const std::vector<PlacedService>& services,
                                         const std::vector<PlacedSlice>& slices, const ServiceCheckOptions& options);

}  // namespace nicproxy

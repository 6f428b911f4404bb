#pragma once
// The one interface every dataplane implements (DPDK, iptables, IPVS, nftables).
#include <optional>
#include <string>

#include "control/model.hpp"

namespace nicproxy {

class Provider {
 public:
  virtual ~Provider() = default;
  /// The name kube-proxy would log: "dpdk", "iptables", ...
  virtual std::string name() const = 0;
  /// Makes the dataplane match `table`. `changed` names the ports that differ from the
  /// previous successful sync; `fullSync` asks for everything to be rewritten (first
  /// sync, or after a failure). Throws std::runtime_error with context on failure; the
  /// dataplane then keeps its last good state and the caller retries with fullSync.
  virtual void sync(const ServiceTable& table, const ChangedPorts& changed, bool fullSync) = 0;
  /// The kernel dataplanes' canary (kube-proxy's KUBE-PROXY-CANARY chains): checks that
  /// what the last sync installed is still in place, and says what is gone when another
  /// program flushed or deleted it (firewalld does); the caller then asks for a full
  /// sync. Cheap enough to call every syncPeriod. nullopt: intact, or nothing to check.
  virtual std::optional<std::string> checkCanary() { return std::nullopt; }
};

}  // namespace nicproxy

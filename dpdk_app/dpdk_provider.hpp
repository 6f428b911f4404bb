#pragma once
// The DPDK dataplane's Provider: turns a ServiceTable snapshot into a
// FastServiceTable and publishes it to the workers.
//
// Who reads and writes: sync() runs on the control thread only. It builds the new
// table off to the side, publishes it with one release store into
// DataPlane::services, waits for an RCU grace period (every online worker has
// reported quiescent, so none still holds the old pointer) and only then frees the
// old table. Workers never wait for the control thread.
#include <memory>
#include <vector>

#include "control/config.hpp"
#include "control/provider.hpp"
#include "dpdk_app/data_plane.hpp"
#include "dpdk_app/service_table.hpp"

namespace nicproxy {

class DpdkProvider : public Provider {
 public:
  DpdkProvider(DataPlane& plane, std::vector<Ipv4Cidr> nodePortAddresses, int socket);
  /// Unpublishes and frees the current table; call after the workers stopped.
  ~DpdkProvider() override;

  std::string name() const override { return "dpdk"; }
  void sync(const ServiceTable& table, const ChangedPorts& changed, bool fullSync) override;

  const FastServiceTable* current() const { return current_.get(); }

 private:
  DataPlane& plane_;
  std::vector<PortSubnet> subnets_;
  std::vector<Ipv4Cidr> nodePortAddresses_;
  int socket_;
  std::unique_ptr<FastServiceTable> current_;
};

}  // namespace nicproxy

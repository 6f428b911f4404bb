#pragma once
// The kernel side of an exception interface (exception_path.hpp), over rtnetlink with
// libnl-route-3: what DPDK's PMD does not do itself. Needs CAP_NET_ADMIN in nicproxy's
// network namespace, as the interface itself does. No DPDK here.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "control/net.hpp"

namespace nicproxy {

/// Sets a kernel interface's MAC address and MTU and brings it up: virtio-user's tap,
/// which DPDK creates but does not configure (net_tap does it itself). Throws
/// std::runtime_error naming the interface and the step.
void configureKernelLink(const std::string& interface, const MacAddress& mac, uint16_t mtu);

/// Sets how many frames the kernel queues on `interface` for its reader (txqueuelen:
/// what the kernel sends while the exception thread waits for a CPU), at least Linux's
/// default 1000. Throws std::runtime_error naming the interface.
void setKernelTxQueueLength(const std::string& interface, uint32_t frames);

/// The port's address on the kernel interface and a default route through the port's
/// gateway (dpdk.ports[].exceptionAddresses "nicproxy"), for as long as it lives: the
/// destructor takes off what the constructor put on, so that nothing nicproxy set
/// outlives it (the interface going away would also take them, a persistent one not).
class KernelAddresses {
 public:
  /// Adds `address` (with its prefix) to `interface`, up by now, and, with a gateway, a
  /// default route through it. An address already there is an error; a default route
  /// already there (the host's) is kept and said in the log, not replaced. Throws
  /// std::runtime_error naming the interface, the address and netlink's reason.
  KernelAddresses(const std::string& interface, const Ipv4Cidr& address, std::optional<Ipv4> gateway);
  ~KernelAddresses();
  KernelAddresses(const KernelAddresses&) = delete;
  KernelAddresses& operator=(const KernelAddresses&) = delete;

  bool routeAdded() const;

  struct Netlink;

 private:
  std::unique_ptr<Netlink> netlink_;
};

}  // namespace nicproxy

#pragma once
// The DPDK side of one exception interface (exception_path.hpp): a net_tap or
// virtio-user vdev made at run time (rte_eal_hotplug_add on the vdev bus), whose kernel side is the interface
// the node's stack sees, with the port's MAC and MTU. One rx/tx queue pair, serviced by
// the exception thread only.
#include <cstdint>
#include <string>

#include <rte_ether.h>
#include <rte_mempool.h>

#include "control/config.hpp"

namespace nicproxy {

class ExceptionDevice {
 public:
  /// Makes the vdev (named after `portIndex`) with kernel interface `interface`, gives it
  /// `mac` and `mtu`, sets up its queues (rx mbufs from `pool`), starts it and brings the
  /// link up. Throws std::runtime_error naming the interface and the step that failed:
  /// virtio-user without /dev/vhost-net, an interface name already in use, ...
  ExceptionDevice(ExceptionPathKind kind, uint16_t portIndex, const std::string& interface, const rte_ether_addr& mac,
                  uint16_t mtu, rte_mempool* pool);
  /// Stops and closes the port and removes the vdev: the kernel interface goes with it.
  ~ExceptionDevice();
  ExceptionDevice(const ExceptionDevice&) = delete;
  ExceptionDevice& operator=(const ExceptionDevice&) = delete;

  uint16_t portId() const { return portId_; }
  const std::string& vdevName() const { return vdevName_; }
  /// As the device reports them once started (what the kernel interface has).
  const rte_ether_addr& mac() const { return mac_; }
  uint16_t mtu() const { return mtu_; }
  /// rx descriptors the device holds mbufs for (for sizing its pool).
  static constexpr uint16_t kRxDescriptors = 512;
  static constexpr uint16_t kTxDescriptors = 512;

 private:
  void close();

  std::string vdevName_;
  std::string interface_;
  uint16_t portId_ = 0;
  bool created_ = false;  // the vdev exists (rte_vdev_init succeeded)
  bool started_ = false;
  rte_ether_addr mac_{};
  uint16_t mtu_ = 0;
};

}  // namespace nicproxy

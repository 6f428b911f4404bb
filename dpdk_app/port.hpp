#pragma once
// Device set-up: finds the DPDK port of a configured device, gives it one rx/tx
// queue pair per worker (RSS when there is more than one), starts it.
#include <cstdint>
#include <string>

#include <rte_ether.h>
#include <rte_mempool.h>

#include "control/config.hpp"

namespace nicproxy {

/// The EAL port name of a configured device: the vdev name before its first comma,
/// or the PCI address.
std::string portNameOf(const DpdkPortConfig& config);

struct OpenedPort {
  uint16_t portId = 0;
  rte_ether_addr mac{};
  std::string driver;
  uint16_t mtu = 1500;        // the device's MTU: longer datagrams leave in fragments
  bool multiSegTx = false;    // the device sends chained mbufs (reassembled datagrams, fragments)
};

/// Configures and starts the port for `config`. Throws std::runtime_error naming the
/// device and the step that failed.
OpenedPort openPort(const DpdkPortConfig& config, uint16_t queues, rte_mempool* pool);

/// Stops and closes a port; errors are logged, not thrown (used during teardown).
void closePort(uint16_t portId);

}  // namespace nicproxy

#include "dpdk_app/exception_device.hpp"

#include <net/if.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>

#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <spdlog/spdlog.h>

#include "dpdk_app/kernel_interface.hpp"

namespace nicproxy {

namespace {

constexpr const char* kVhostNet = "/dev/vhost-net";

std::string macText(const rte_ether_addr& mac) {
  char text[RTE_ETHER_ADDR_FMT_SIZE];
  rte_ether_format_addr(text, sizeof text, &mac);
  return text;
}

}  // namespace

ExceptionDevice::ExceptionDevice(ExceptionPathKind kind, uint16_t portIndex, const std::string& interface,
                                 const rte_ether_addr& mac, uint16_t mtu, rte_mempool* pool)
    : interface_(interface) {
  const std::string what = "exception interface " + interface + " of dpdk.ports[" + std::to_string(portIndex) + "]";
  const auto fail = [&](const std::string& step, int rc) {
    close();
    throw std::runtime_error(what + ": " + step + " failed: " + rte_strerror(rc < 0 ? -rc : rc));
  };
  // A tap device of that name would be attached to (and its frames shared), any other
  // interface refused with a vague error: say which it is.
  if (if_nametoindex(interface.c_str()) != 0) {
    throw std::runtime_error(what + ": an interface named " + interface +
                             " exists already in this network namespace (set dpdk.ports[" + std::to_string(portIndex) +
                             "].exceptionInterface to another name, or remove it)");
  }
  std::string args = "iface=" + interface + ",mac=" + macText(mac);
  if (kind == ExceptionPathKind::VirtioUser) {
    if (access(kVhostNet, R_OK | W_OK) != 0) {
      throw std::runtime_error(what + ": exceptionPath \"virtio-user\" needs " + std::string(kVhostNet) +
                               ", which is missing or not accessible here (load the module: modprobe vhost_net), or "
                               "use exceptionPath \"tap\"");
    }
    vdevName_ = "net_virtio_user_exc" + std::to_string(portIndex);
    args = std::string("path=") + kVhostNet + ",queues=1,queue_size=1024," + args;
  } else {
    vdevName_ = "net_tap_exc" + std::to_string(portIndex);
  }
  // rte_eal_hotplug_add: the vdev bus's own rte_vdev_init lives in a driver library
  // that Debian's libdpdk.pc does not link.
  if (const int rc = rte_eal_hotplug_add("vdev", vdevName_.c_str(), args.c_str()); rc != 0) {
    fail("creating " + vdevName_ + " (" + args + ")", rc);
  }
  created_ = true;
  if (rte_eth_dev_get_port_by_name(vdevName_.c_str(), &portId_) != 0) fail("finding the port of " + vdevName_, ENODEV);

  rte_eth_dev_info info{};
  if (const int rc = rte_eth_dev_info_get(portId_, &info); rc != 0) fail("rte_eth_dev_info_get", rc);
  rte_eth_conf conf{};
  conf.rxmode.mtu = mtu;
  // A frame longer than one mbuf (a jumbo MTU) is read into a chain, where the device can.
  if (mtu + RTE_ETHER_HDR_LEN + RTE_VLAN_HLEN > rte_pktmbuf_data_room_size(pool) - RTE_PKTMBUF_HEADROOM &&
      (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER) != 0) {
    conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_SCATTER;
  }
  if ((info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS) != 0) conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
  if (const int rc = rte_eth_dev_configure(portId_, 1, 1, &conf); rc != 0) fail("rte_eth_dev_configure", rc);
  if (const int rc = rte_eth_dev_set_mtu(portId_, mtu); rc != 0) fail("setting MTU " + std::to_string(mtu), rc);
  uint16_t rxDescriptors = kRxDescriptors;
  uint16_t txDescriptors = kTxDescriptors;
  if (const int rc = rte_eth_dev_adjust_nb_rx_tx_desc(portId_, &rxDescriptors, &txDescriptors); rc != 0) {
    fail("rte_eth_dev_adjust_nb_rx_tx_desc", rc);
  }
  const int socket = rte_eth_dev_socket_id(portId_);
  const unsigned socketId = socket < 0 ? 0 : static_cast<unsigned>(socket);
  if (const int rc = rte_eth_rx_queue_setup(portId_, 0, rxDescriptors, socketId, nullptr, pool); rc != 0) {
    fail("rte_eth_rx_queue_setup", rc);
  }
  if (const int rc = rte_eth_tx_queue_setup(portId_, 0, txDescriptors, socketId, nullptr); rc != 0) {
    fail("rte_eth_tx_queue_setup", rc);
  }
  if (const int rc = rte_eth_dev_start(portId_); rc != 0) fail("rte_eth_dev_start", rc);
  started_ = true;
  // net_tap brings its interface up on start; virtio-user leaves its tap to us.
  if (const int rc = rte_eth_dev_set_link_up(portId_); rc != 0 && rc != -ENOTSUP) fail("rte_eth_dev_set_link_up", rc);
  if (kind == ExceptionPathKind::VirtioUser) {
    MacAddress kernelMac;
    std::copy(std::begin(mac.addr_bytes), std::end(mac.addr_bytes), kernelMac.begin());
    try {
      configureKernelLink(interface, kernelMac, mtu);
    } catch (...) {
      close();
      throw;
    }
  }
  if (const int rc = rte_eth_macaddr_get(portId_, &mac_); rc != 0) fail("rte_eth_macaddr_get", rc);
  if (const int rc = rte_eth_dev_get_mtu(portId_, &mtu_); rc != 0) fail("rte_eth_dev_get_mtu", rc);
}

ExceptionDevice::~ExceptionDevice() { close(); }

void ExceptionDevice::close() {
  if (started_) {
    if (const int rc = rte_eth_dev_stop(portId_); rc != 0) {
      spdlog::warn("exception interface {}: stop failed: {}", interface_, rte_strerror(-rc));
    }
    started_ = false;
  }
  if (created_) {
    // Closing the port frees its queues' mbufs; removing the vdev deletes the kernel
    // interface (net_tap's is not persistent), and with it what the kernel put on it.
    if (const int rc = rte_eth_dev_close(portId_); rc != 0) {
      spdlog::warn("exception interface {}: close failed: {}", interface_, rte_strerror(-rc));
    }
    if (const int rc = rte_eal_hotplug_remove("vdev", vdevName_.c_str()); rc != 0 && rc != -ENOENT) {
      spdlog::warn("exception interface {}: removing {} failed: {}", interface_, vdevName_, rte_strerror(-rc));
    }
    created_ = false;
  }
}

}  // namespace nicproxy

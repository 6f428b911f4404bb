#include "dpdk_app/port.hpp"

#include <stdexcept>

#include <rte_ethdev.h>
#include <spdlog/spdlog.h>

namespace nicproxy {

namespace {
constexpr uint16_t kRxDescriptors = 1024;
constexpr uint16_t kTxDescriptors = 1024;

[[noreturn]] void fail(const DpdkPortConfig& config, const std::string& step, int rc) {
  throw std::runtime_error("port " + config.device + ": " + step + " failed: " + rte_strerror(-rc));
}
}  // namespace

std::string portNameOf(const DpdkPortConfig& config) {
  if (config.isPci) return config.device;
  return config.device.substr(0, config.device.find(','));
}

OpenedPort openPort(const DpdkPortConfig& config, uint16_t queues, rte_mempool* pool) {
  OpenedPort opened;
  const std::string name = portNameOf(config);
  if (rte_eth_dev_get_port_by_name(name.c_str(), &opened.portId) != 0) {
    throw std::runtime_error("port " + config.device + ": no DPDK port named " + name +
                             " (was the device probed? check the EAL log above)");
  }
  rte_eth_dev_info info{};
  int rc = rte_eth_dev_info_get(opened.portId, &info);
  if (rc != 0) fail(config, "rte_eth_dev_info_get", rc);
  opened.driver = info.driver_name != nullptr ? info.driver_name : "?";
  if (queues > info.max_rx_queues || queues > info.max_tx_queues) {
    throw std::runtime_error("port " + config.device + ": " + std::to_string(queues) +
                             " workers need as many queue pairs but the device has " +
                             std::to_string(info.max_rx_queues) +
                             " (for net_af_packet add qpairs=N to the device string)");
  }
  rte_eth_conf conf{};
  if (queues > 1 && info.flow_type_rss_offloads != 0) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_hf =
        (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) & info.flow_type_rss_offloads;
  }
  // The NIC verifies IPv4 header checksums where it can; the workers read its verdict
  // from the mbuf and compute the checksum only when there is none (ingress_filter.hpp).
  const bool checksumOffload = (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM) != 0;
  if (checksumOffload) conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
  spdlog::info("port {}: IPv4 header checksums verified {}", config.device,
               checksumOffload ? "by the NIC (rx offload)" : "in software (the device offers no rx offload)");
  // Reassembled datagrams and the fragments made of them are mbuf chains.
  opened.multiSegTx = (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS) != 0;
  if (opened.multiSegTx) conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
  rc = rte_eth_dev_configure(opened.portId, queues, queues, &conf);
  if (rc != 0) fail(config, "rte_eth_dev_configure", rc);
  uint16_t rxDescriptors = kRxDescriptors;
  uint16_t txDescriptors = kTxDescriptors;
  rc = rte_eth_dev_adjust_nb_rx_tx_desc(opened.portId, &rxDescriptors, &txDescriptors);
  if (rc != 0) fail(config, "rte_eth_dev_adjust_nb_rx_tx_desc", rc);
  const int socket = rte_eth_dev_socket_id(opened.portId);
  const unsigned socketId = socket < 0 ? 0 : static_cast<unsigned>(socket);
  for (uint16_t q = 0; q < queues; ++q) {
    rc = rte_eth_rx_queue_setup(opened.portId, q, rxDescriptors, socketId, nullptr, pool);
    if (rc != 0) fail(config, "rte_eth_rx_queue_setup", rc);
    rc = rte_eth_tx_queue_setup(opened.portId, q, txDescriptors, socketId, nullptr);
    if (rc != 0) fail(config, "rte_eth_tx_queue_setup", rc);
  }
  rc = rte_eth_macaddr_get(opened.portId, &opened.mac);
  if (rc != 0) fail(config, "rte_eth_macaddr_get", rc);
  rc = rte_eth_dev_get_mtu(opened.portId, &opened.mtu);
  if (rc != 0) fail(config, "rte_eth_dev_get_mtu", rc);
  rc = rte_eth_dev_start(opened.portId);
  if (rc != 0) fail(config, "rte_eth_dev_start", rc);
  // ARP and frames to our MAC suffice; promiscuous mode is not needed, and a PMD that
  // cannot change it is not an error.
  return opened;
}

void closePort(uint16_t portId) {
  int rc = rte_eth_dev_stop(portId);
  if (rc != 0) spdlog::warn("port {}: stop failed: {}", portId, rte_strerror(-rc));
  rc = rte_eth_dev_close(portId);
  if (rc != 0) spdlog::warn("port {}: close failed: {}", portId, rte_strerror(-rc));
}

}  // namespace nicproxy

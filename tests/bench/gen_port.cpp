#include "tests/bench/gen_port.hpp"

#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>

namespace nicproxy::bench {

namespace {
constexpr unsigned kPoolSize = 16383;  // rx descriptors, tx buffer, frames in flight
constexpr uint16_t kDescriptors = 1024;
}  // namespace

GenPort::GenPort(const EalSetup& setup) {
  std::vector<std::string> args{"nicproxy-gen", "--lcores", "0@" + std::to_string(setup.cpu), "--no-huge", "-m", "256",
                                "--no-pci", "--no-shconf", "--no-telemetry", "--file-prefix", setup.filePrefix,
                                "--log-level", "*:warning", "--vdev", setup.device};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
    throw std::runtime_error(std::string("EAL initialisation failed: ") + rte_strerror(rte_errno));
  }
  const std::string name = setup.device.substr(0, setup.device.find(','));
  if (rte_eth_dev_get_port_by_name(name.c_str(), &port_) != 0) throw std::runtime_error("no port " + name);
  pool_ = rte_pktmbuf_pool_create("gen_pool", kPoolSize, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                  static_cast<int>(rte_socket_id()));
  if (pool_ == nullptr) throw std::runtime_error(std::string("mempool: ") + rte_strerror(rte_errno));
  rte_eth_conf conf{};
  if (rte_eth_dev_configure(port_, 1, 1, &conf) != 0) throw std::runtime_error("rte_eth_dev_configure failed");
  const int socket = rte_eth_dev_socket_id(port_) < 0 ? 0 : rte_eth_dev_socket_id(port_);
  if (rte_eth_rx_queue_setup(port_, 0, kDescriptors, static_cast<unsigned>(socket), nullptr, pool_) != 0 ||
      rte_eth_tx_queue_setup(port_, 0, kDescriptors, static_cast<unsigned>(socket), nullptr) != 0) {
    throw std::runtime_error("queue setup failed");
  }
  if (rte_eth_macaddr_get(port_, &mac_) != 0) throw std::runtime_error("rte_eth_macaddr_get failed");
  if (rte_eth_dev_start(port_) != 0) throw std::runtime_error("rte_eth_dev_start failed");
  open_ = true;
}

GenPort::~GenPort() {
  close();
  rte_eal_cleanup();
}

bool GenPort::waitForLink(double seconds) const {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    rte_eth_link link{};
    if (rte_eth_link_get_nowait(port_, &link) == 0 && link.link_status == RTE_ETH_LINK_UP) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

void GenPort::flush() {
  if (count_ == 0) return;
  const uint16_t done = rte_eth_tx_burst(port_, 0, packets_.data(), count_);
  for (uint16_t i = done; i < count_; ++i) {
    refused_[tags_[i].trial][static_cast<size_t>(tags_[i].kind)]++;
    rte_pktmbuf_free(packets_[i]);
  }
  count_ = 0;
}

void GenPort::close() {
  if (!open_) return;
  for (uint16_t i = 0; i < count_; ++i) rte_pktmbuf_free(packets_[i]);
  count_ = 0;
  rte_eth_dev_stop(port_);
  rte_eth_dev_close(port_);
  open_ = false;
}

}  // namespace nicproxy::bench

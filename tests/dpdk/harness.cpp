#include "tests/dpdk/harness.hpp"

#include <atomic>
#include <cstring>
#include <stdexcept>

#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_mbuf.h>

namespace nicproxy::testing {

namespace {

Endpoint endpoint(Ipv4 address, uint16_t port, bool ready = true) {
  Endpoint e;
  e.address = address;
  e.port = port;
  e.ready = ready;
  e.serving = ready;
  return e;
}

void add(ServiceTable::Map& map, const std::string& name, Protocol protocol, Ipv4 clusterIp, uint16_t port,
         std::vector<Endpoint> endpoints, uint16_t nodePort = 0, std::vector<Ipv4> externalIPs = {}) {
  auto sp = std::make_shared<ServicePort>();
  sp->name = ServicePortName{"default", name, protocol == Protocol::Udp ? "udp" : "tcp", protocol};
  sp->type = nodePort != 0 ? ServiceType::NodePort : ServiceType::ClusterIP;
  sp->clusterIPs = {clusterIp};
  sp->port = port;
  sp->nodePort = nodePort;
  sp->externalIPs = std::move(externalIPs);
  sp->endpoints = std::move(endpoints);
  map[sp->name] = sp;
}

PortInfo portInfo(uint16_t id, const Mac& mac, uint32_t address) {
  PortInfo p;
  p.portId = id;
  p.mac = etherAddr(mac);
  p.address = rte_cpu_to_be_32(address);
  p.mask = rte_cpu_to_be_32(kMask24);
  p.gateway = 0;
  return p;
}

}  // namespace

std::string uniqueName(const char* prefix) {
  static std::atomic<uint32_t> sequence{0};
  return std::string(prefix) + std::to_string(sequence.fetch_add(1));
}

rte_ether_addr etherAddr(const Mac& mac) {
  rte_ether_addr a;
  std::memcpy(a.addr_bytes, mac.data(), mac.size());
  return a;
}

ServiceTable standardServices() {
  ServiceTable::Map map;
  add(map, "web", Protocol::Tcp, kWebVip, 80, {endpoint(kBackendIp, 8080)}, kWebNodePort,
      {kExternalInSubnet, kExternalOutside});
  add(map, "dns", Protocol::Udp, kWebVip, 53, {endpoint(kBackendIp, 5353)});
  add(map, "empty", Protocol::Tcp, kEmptyVip, 80, {});
  add(map, "empty", Protocol::Udp, kEmptyVip, 53, {});
  add(map, "multi", Protocol::Tcp, kMultiVip, 80,
      {endpoint(kBackendIp, 8080), endpoint(kBackend2Ip, 8080), endpoint(kBackend3Ip, 8080),
       endpoint(kNotReadyBackendIp, 8080, false)});
  add(map, "dark", Protocol::Tcp, kDarkVip, 80, {endpoint(kDarkBackendIp, 8080)});
  add(map, "far", Protocol::Tcp, kFarVip, 80, {endpoint(kFarBackendIp, 9090)});
  return ServiceTable(std::move(map), 1);
}

Harness::Harness(const Options& options) : hz_(rte_get_tsc_hz()) {
  now_ = 1000 * hz_;  // well away from 0, which the neighbour table reads as "never"
  plane_.ports = {portInfo(0, kPort0Mac, kPort0Ip), portInfo(1, kPort1Mac, kPort1Ip)};
  plane_.workerCount = options.workerCount;
  plane_.timeouts = Timeouts::fromTscHz(hz_);
  flows_ = std::make_unique<FlowTable>(uniqueName("test_flows"), options.flowCapacity, SOCKET_ID_ANY);
  if (options.withServices) {
    std::vector<PortSubnet> subnets;
    for (const PortInfo& p : plane_.ports) subnets.push_back(PortSubnet{p.address, p.mask});
    services_ = FastServiceTable::build(standardServices(), subnets, {}, SOCKET_ID_ANY);
  }
  pool_ = rte_pktmbuf_pool_create(uniqueName("test_pool").c_str(), 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                  SOCKET_ID_ANY);
  if (pool_ == nullptr) throw std::runtime_error("rte_pktmbuf_pool_create failed");
  if (options.learnBackends) {
    const std::pair<uint32_t, Mac> known[] = {{kBackendIp, kBackendMac},
                                              {kBackend2Ip, kBackend2Mac},
                                              {kBackend3Ip, kBackend3Mac},
                                              {kFarBackendIp, kFarBackendMac}};
    for (const auto& [address, mac] : known) plane_.neighbors.learn(rte_cpu_to_be_32(address), etherAddr(mac), now_);
  }
  ctx_.index = options.workerIndex;
  ctx_.queue = 0;
  ctx_.plane = &plane_;
  ctx_.flows = flows_.get();
  ctx_.pool = pool_;
}

Harness::~Harness() {
  for (TxBatch& batch : ctx_.tx) {
    for (uint16_t i = 0; i < batch.count; ++i) rte_pktmbuf_free(batch.packets[i]);
    batch.count = 0;
  }
  rte_mempool_free(pool_);
}

std::vector<Sent> Harness::run(const std::vector<Bytes>& frames, uint16_t rxPort) {
  std::vector<rte_mbuf*> mbufs;
  for (const Bytes& frame : frames) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool_);
    if (m == nullptr) throw std::runtime_error("test pool empty");
    void* data = rte_pktmbuf_append(m, static_cast<uint16_t>(frame.size()));
    if (data == nullptr && !frame.empty()) throw std::runtime_error("frame larger than an mbuf");
    if (!frame.empty()) std::memcpy(data, frame.data(), frame.size());
    mbufs.push_back(m);
  }
  processBurst(ctx_, services_.get(), rxPort, mbufs.data(), static_cast<uint16_t>(mbufs.size()), now_);

  std::vector<Sent> sent;
  for (uint16_t port = 0; port < plane_.ports.size(); ++port) {
    TxBatch& batch = ctx_.tx[port];
    for (uint16_t i = 0; i < batch.count; ++i) {
      rte_mbuf* m = batch.packets[i];
      Bytes frame(rte_pktmbuf_pkt_len(m));
      const void* bytes = rte_pktmbuf_read(m, 0, static_cast<uint32_t>(frame.size()), frame.data());
      if (bytes != frame.data() && !frame.empty()) std::memcpy(frame.data(), bytes, frame.size());
      sent.push_back(Sent{port, std::move(frame)});
      rte_pktmbuf_free(m);
    }
    batch.count = 0;
  }
  return sent;
}

}  // namespace nicproxy::testing

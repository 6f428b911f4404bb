#include "tests/dpdk/harness.hpp"

#include <atomic>
#include <cstring>
#include <stdexcept>

#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "dpdk_app/exception_path.hpp"

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

Harness::Harness(const Options& options) : hz_(rte_get_tsc_hz()), withServices_(options.withServices) {
  now_ = 1000 * hz_;  // well away from 0, which the neighbour table reads as "never"
  plane_.ports = {portInfo(0, kPort0Mac, kPort0Ip), portInfo(1, kPort1Mac, kPort1Ip)};
  plane_.workerCount = options.workerCount;
  plane_.timeouts = Timeouts::fromTscHz(hz_);
  const size_t qsbrSize = rte_rcu_qsbr_get_memsize(options.workerCount);
  qsbr_ = static_cast<rte_rcu_qsbr*>(rte_zmalloc("test_qsbr", qsbrSize, RTE_CACHE_LINE_SIZE));
  if (qsbr_ == nullptr || rte_rcu_qsbr_init(qsbr_, options.workerCount) != 0) throw std::runtime_error("qsbr");
  plane_.qsbr = qsbr_;
  pool_ = rte_pktmbuf_pool_create(uniqueName("test_pool").c_str(), 4095, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                  SOCKET_ID_ANY);
  if (pool_ == nullptr) throw std::runtime_error("rte_pktmbuf_pool_create failed");
  indirectPool_ = rte_pktmbuf_pool_create(uniqueName("test_indirect").c_str(), 1023, 0, 0, 0, SOCKET_ID_ANY);
  if (indirectPool_ == nullptr) throw std::runtime_error("rte_pktmbuf_pool_create (indirect) failed");
  const uint16_t contexts = options.allWorkers ? options.workerCount : 1;
  affinity_ = std::make_unique<AffinityTable>(SOCKET_ID_ANY);
  for (uint16_t i = 0; i < contexts; ++i) {
    flows_.push_back(std::make_unique<FlowTable>(uniqueName("test_flows"), options.flowCapacity, SOCKET_ID_ANY));
    if (options.allWorkers && options.workerCount > 1) {
      rings_.push_back(rte_ring_create(uniqueName("test_ring").c_str(), 1024, SOCKET_ID_ANY, RING_F_SC_DEQ));
      if (rings_.back() == nullptr) throw std::runtime_error("rte_ring_create failed");
      plane_.redirect.push_back(rings_.back());
    }
    auto ctx = std::make_unique<WorkerContext>();
    if (options.fragmentDatagrams != 0) {
      reassembly_.push_back(std::make_unique<ReassemblyTable>(
          options.fragmentDatagrams, options.fragmentTimeoutMs * hz_ / 1000, SOCKET_ID_ANY));
      if (!reassembly_.back()->ok()) throw std::runtime_error("rte_ip_frag_table_create failed");
      ctx->reassembly = reassembly_.back().get();
    }
    ctx->indirectPool = indirectPool_;
    ctx->index = options.allWorkers ? i : options.workerIndex;
    ctx->queue = 0;
    ctx->plane = &plane_;
    ctx->flows = flows_.back().get();
    ctx->affinity = affinity_.get();
    ctx->pool = pool_;
    contexts_.push_back(std::move(ctx));
  }
  std::vector<Ipv4Cidr> nodePortAddresses;
  provider_ = std::make_unique<DpdkProvider>(plane_, nodePortAddresses, SOCKET_ID_ANY, options.scheduler);
  if (options.withServices) {
    snapshot_ = standardServices();
    provider_->sync(snapshot_, {}, true);
  }
  if (options.learnBackends) {
    const std::pair<uint32_t, Mac> known[] = {{kBackendIp, kBackendMac},
                                              {kBackend2Ip, kBackend2Mac},
                                              {kBackend3Ip, kBackend3Mac},
                                              {kFarBackendIp, kFarBackendMac}};
    for (const auto& [address, mac] : known) seedNeighbor(address, mac);
  }
}

Harness::~Harness() {
  for (auto& ctx : contexts_) {
    for (TxBatch& batch : ctx->tx) {
      for (uint16_t i = 0; i < batch.count; ++i) rte_pktmbuf_free(batch.packets[i]);
      batch.count = 0;
    }
  }
  for (rte_ring* ring : rings_) {
    void* m = nullptr;
    while (rte_ring_dequeue(ring, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
    rte_ring_free(ring);
  }
  provider_.reset();
  reassembly_.clear();
  rte_free(qsbr_);
  rte_mempool_free(pool_);
  rte_mempool_free(indirectPool_);
}

void Harness::sync(const ServiceTable& table) {
  ChangedPorts changed;
  for (const auto& [name, port] : table.ports()) {
    const ServicePort* before = snapshot_.find(name);
    if (before == nullptr || !(*before == *port)) changed.insert(name);
  }
  for (const auto& [name, port] : snapshot_.ports()) {
    if (table.find(name) == nullptr) changed.insert(name);
  }
  provider_->sync(table, changed, false);
  snapshot_ = table;
}

std::vector<Sent> Harness::collect(WorkerContext& ctx) {
  flushToKernel(ctx);  // as flushTx() does at the end of the worker's loop
  std::vector<Sent> sent;
  for (uint16_t port = 0; port < plane_.ports.size(); ++port) {
    TxBatch& batch = ctx.tx[port];
    for (uint16_t i = 0; i < batch.count; ++i) {
      rte_mbuf* m = batch.packets[i];
      Bytes frame(rte_pktmbuf_pkt_len(m));
      const void* bytes = rte_pktmbuf_read(m, 0, static_cast<uint32_t>(frame.size()), frame.data());
      if (bytes != frame.data() && !frame.empty()) std::memcpy(frame.data(), bytes, frame.size());
      sent.push_back(Sent{port, std::move(frame), m->nb_segs});
      rte_pktmbuf_free(m);
    }
    batch.count = 0;
  }
  return sent;
}

rte_mbuf* Harness::mbufOf(const Bytes& frame) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  if (m == nullptr) throw std::runtime_error("test pool empty");
  void* data = rte_pktmbuf_append(m, static_cast<uint16_t>(frame.size()));
  if (data == nullptr && !frame.empty()) throw std::runtime_error("frame larger than an mbuf");
  if (!frame.empty()) std::memcpy(data, frame.data(), frame.size());
  return m;
}

std::vector<Sent> Harness::run(const std::vector<Bytes>& frames, uint16_t rxPort, uint16_t worker) {
  std::vector<rte_mbuf*> mbufs;
  for (const Bytes& frame : frames) {
    rte_mbuf* m = mbufOf(frame);
    m->ol_flags |= rxFlags_;
    mbufs.push_back(m);
  }
  WorkerContext& ctx = *contexts_.at(worker);
  processBurst(ctx, withServices_ ? services() : nullptr, rxPort, mbufs.data(), static_cast<uint16_t>(mbufs.size()),
               now_);
  return collect(ctx);
}

std::vector<Sent> Harness::drainRedirect(uint16_t worker) {
  WorkerContext& ctx = *contexts_.at(worker);
  while (processRedirected(ctx, withServices_ ? services() : nullptr, now_) > 0) {
  }
  return collect(ctx);
}

std::vector<Sent> Harness::drainFromKernel(uint16_t worker) {
  WorkerContext& ctx = *contexts_.at(worker);
  while (processFromKernel(ctx, withServices_ ? services() : nullptr, now_) > 0) {
  }
  return collect(ctx);
}

std::vector<Sent> Harness::probe(uint16_t worker) {
  WorkerContext& ctx = *contexts_.at(worker);
  probeNeighbors(ctx, withServices_ ? services() : nullptr, now_);
  return collect(ctx);
}

void Harness::seedNeighbor(uint32_t address, const Mac& mac) {
  const rte_be32_t a = rte_cpu_to_be_32(address);
  const Timeouts& t = plane_.timeouts;
  if (!plane_.neighbors.claimRequest(a, now_, t.arpRetry, t.arpRefresh) ||
      plane_.neighbors.hear(a, etherAddr(mac), now_, true, t.arpRetry) != NeighborTable::Heard::Solicited) {
    throw std::runtime_error("seedNeighbor: the neighbour table did not take the entry");
  }
}

void Harness::addSnatAddress(uint16_t port, uint32_t address) {
  PortInfo& p = plane_.ports.at(port);
  if (p.extraSnatCount == PortInfo::kMaxExtraSnatAddresses) throw std::runtime_error("too many SNAT addresses");
  p.extraSnatAddresses[p.extraSnatCount++] = rte_cpu_to_be_32(address);
}

std::vector<Sent> Harness::housekeeping(uint16_t worker) {
  WorkerContext& ctx = *contexts_.at(worker);
  nicproxy::housekeeping(ctx, withServices_ ? services() : nullptr, now_);
  return collect(ctx);
}

std::vector<Sent> Harness::purge(uint16_t worker) {
  WorkerContext& ctx = *contexts_.at(worker);
  do {
    purgeRemovedFlows(ctx, services(), now_);
  } while (ctx.purgeRemaining > 0);
  return collect(ctx);
}

}  // namespace nicproxy::testing

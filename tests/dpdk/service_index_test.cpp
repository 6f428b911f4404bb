// In-place updates of the frontend index through the real DpdkProvider: what one sync
// changes, what it leaves alone, when it builds a new index, and that a reader running
// beside the updates never misses a frontend that did not change.
// Test addresses: port 10.50.0.1/24 (and 10.60.0.1/24); "keep" 10.97.1.1:80 and
// "svc-N" 10.97.0.N:80 -> 10.50.0.11-13:8080; "moved" 10.97.2.1:80 -> 10.50.0.21:8080;
// external IP 10.50.0.200 (inside the port subnet); duplicate frontend 10.97.3.1:80.
//   ServiceIndex.OneChangeLeavesEveryOtherEntryAlone
//   ServiceIndex.RemovedServiceLeavesNoFrontendOrAddress
//   ServiceIndex.DuplicateFrontendPassesToTheNextClaimant
//   ServiceIndex.OutOfRoomBuildsANewIndexThenGoesBackToInPlace
//   ServiceIndex.FullSyncBuildsANewIndexKeepingPortStates
//   ServiceIndex.ReaderNeverMissesAnUnchangedFrontendDuringAnUpdateStorm
#include <atomic>
#include <thread>

#include <netinet/in.h>

#include <gtest/gtest.h>
#include <rte_byteorder.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include "dpdk_app/data_plane.hpp"
#include "dpdk_app/dpdk_provider.hpp"
#include "tests/dpdk/harness.hpp"
#include "tests/dpdk/services.hpp"

namespace nicproxy::testing {
namespace {

constexpr uint32_t kKeepVip = ipv4(10, 97, 1, 1);
constexpr uint32_t kMovedBackend = ipv4(10, 50, 0, 21);
constexpr uint32_t kExternalIp = ipv4(10, 50, 0, 200);
constexpr uint32_t kSharedVip = ipv4(10, 97, 3, 1);

ServiceKey tcpKey(uint32_t vip, uint16_t port = 80) {
  return ServiceKey{rte_cpu_to_be_32(vip), rte_cpu_to_be_16(port), IPPROTO_TCP, 0};
}

std::vector<Endpoint> threeBackends() {
  return {makeEndpoint(kBackendIp, 8080), makeEndpoint(kBackend2Ip, 8080), makeEndpoint(kBackend3Ip, 8080)};
}

ServiceTable tableOf(const std::vector<ServicePort>& ports, uint64_t generation) {
  ServiceTable::Map map;
  for (const ServicePort& p : ports) map[p.name] = std::make_shared<const ServicePort>(p);
  return ServiceTable(std::move(map), generation);
}

ChangedPorts namesOf(const std::vector<ServicePort>& ports) {
  ChangedPorts names;
  for (const ServicePort& p : ports) names.insert(p.name);
  return names;
}

std::vector<ServicePort> manyServices(uint32_t count) {
  std::vector<ServicePort> ports;
  for (uint32_t i = 1; i <= count; ++i) {
    ports.push_back(makePort("svc-" + std::to_string(i), ipv4(10, 97, 0, 0) + i, 80, threeBackends()));
  }
  return ports;
}

// A data plane with two ports, one RCU reader slot, and the real provider.
class Fixture {
 public:
  Fixture() {
    for (uint32_t address : {kPort0Ip, kPort1Ip}) {
      PortInfo p;
      p.address = rte_cpu_to_be_32(address);
      p.mask = rte_cpu_to_be_32(kMask24);
      plane.ports.push_back(p);
    }
    qsbr_ = static_cast<rte_rcu_qsbr*>(rte_zmalloc("index_qsbr", rte_rcu_qsbr_get_memsize(1), RTE_CACHE_LINE_SIZE));
    if (qsbr_ == nullptr || rte_rcu_qsbr_init(qsbr_, 1) != 0) throw std::runtime_error("qsbr");
    plane.qsbr = qsbr_;
    provider = std::make_unique<DpdkProvider>(plane, std::vector<Ipv4Cidr>{}, SOCKET_ID_ANY);
  }
  ~Fixture() {
    provider.reset();
    rte_free(qsbr_);
  }
  /// Publishes `ports` as the whole table; `changed` names what differs from the last one.
  void sync(const std::vector<ServicePort>& ports, const ChangedPorts& changed, bool full = false) {
    provider->sync(tableOf(ports, ++generation_), changed, full);
  }
  const FastServiceTable& table() const { return *plane.services.load(std::memory_order_acquire); }

  DataPlane plane;
  std::unique_ptr<DpdkProvider> provider;

 private:
  rte_rcu_qsbr* qsbr_ = nullptr;
  uint64_t generation_ = 0;
};

TEST(ServiceIndex, OneChangeLeavesEveryOtherEntryAlone) {
  Fixture f;
  std::vector<ServicePort> ports = manyServices(50);
  f.sync(ports, namesOf(ports), true);
  std::vector<const ServiceEntry*> before;
  for (uint32_t i = 1; i <= 50; ++i) before.push_back(f.table().lookup(tcpKey(ipv4(10, 97, 0, 0) + i)));

  ports[7].endpoints.push_back(makeEndpoint(kMovedBackend, 8080));
  f.sync(ports, {ports[7].name});
  EXPECT_FALSE(f.provider->lastSyncRebuilt()) << "one change must be applied in place";
  EXPECT_EQ(f.provider->builtPorts(), 1u);
  EXPECT_EQ(f.provider->reusedPorts(), 49u);
  for (uint32_t i = 1; i <= 50; ++i) {
    const ServiceEntry* now = f.table().lookup(tcpKey(ipv4(10, 97, 0, 0) + i));
    ASSERT_NE(now, nullptr) << "svc-" << i;
    if (i == 8) {
      EXPECT_NE(now, before[i - 1]);
      EXPECT_EQ(now->backendCount, 4u);
    } else {
      EXPECT_EQ(now, before[i - 1]) << "svc-" << i << " was touched";
    }
  }
  const auto& addresses = f.table().backendAddresses();
  EXPECT_EQ(addresses.size(), 4u) << "distinct backend addresses";
  EXPECT_NE(std::find(addresses.begin(), addresses.end(), rte_cpu_to_be_32(kMovedBackend)), addresses.end());
}

TEST(ServiceIndex, RemovedServiceLeavesNoFrontendOrAddress) {
  Fixture f;
  ServicePort keep = makePort("keep", kKeepVip, 80, threeBackends());
  ServicePort moved = makePort("moved", ipv4(10, 97, 2, 1), 80, {makeEndpoint(kMovedBackend, 8080)});
  moved.externalIPs = {kExternalIp};
  f.sync({keep, moved}, namesOf({keep, moved}), true);
  ASSERT_NE(f.table().lookup(tcpKey(kExternalIp)), nullptr);
  EXPECT_EQ(f.table().localAddressFlags(rte_cpu_to_be_32(kExternalIp)), kAnswerArp | kServiceAddress);
  EXPECT_EQ(f.table().backendAddresses().size(), 4u);

  f.sync({keep}, {moved.name});
  EXPECT_FALSE(f.provider->lastSyncRebuilt());
  EXPECT_EQ(f.table().lookup(tcpKey(ipv4(10, 97, 2, 1))), nullptr);
  EXPECT_EQ(f.table().lookup(tcpKey(kExternalIp)), nullptr);
  EXPECT_EQ(f.table().localAddressFlags(rte_cpu_to_be_32(kExternalIp)), 0u) << "no longer ours: no ARP answers";
  EXPECT_EQ(f.table().localAddressFlags(rte_cpu_to_be_32(kPort0Ip)), kAnswerArp) << "the port address stays";
  EXPECT_EQ(f.table().backendAddresses().size(), 3u);
  EXPECT_EQ(f.table().frontendCount(), 1u);
  // The erased slots come back: the same frontends can be added again.
  f.sync({keep, moved}, {moved.name});
  EXPECT_NE(f.table().lookup(tcpKey(kExternalIp)), nullptr);
}

TEST(ServiceIndex, DuplicateFrontendPassesToTheNextClaimant) {
  Fixture f;
  ServicePort first = makePort("a-first", kSharedVip, 80, threeBackends());
  ServicePort second = makePort("b-second", kSharedVip, 80, {makeEndpoint(kMovedBackend, 8080)});
  f.sync({second}, {second.name}, true);
  f.sync({first, second}, {first.name});
  const ServiceEntry* owner = f.table().lookup(tcpKey(kSharedVip));
  ASSERT_NE(owner, nullptr);
  EXPECT_EQ(owner->backendCount, 3u) << "the first in name order keeps a shared frontend";
  f.sync({second}, {first.name});
  owner = f.table().lookup(tcpKey(kSharedVip));
  ASSERT_NE(owner, nullptr) << "the other claimant takes the frontend over";
  EXPECT_EQ(owner->backendCount, 1u);
}

TEST(ServiceIndex, OutOfRoomBuildsANewIndexThenGoesBackToInPlace) {
  Fixture f;
  std::vector<ServicePort> few = manyServices(2);
  f.sync(few, namesOf(few), true);
  std::vector<ServicePort> many = manyServices(200);  // far more than the index has room for
  f.sync(many, namesOf(many));
  EXPECT_TRUE(f.provider->lastSyncRebuilt());
  EXPECT_EQ(f.table().frontendCount(), 200u);
  for (uint32_t i = 1; i <= 200; ++i) EXPECT_NE(f.table().lookup(tcpKey(ipv4(10, 97, 0, 0) + i)), nullptr) << i;
  many[100].endpoints.pop_back();
  f.sync(many, {many[100].name});
  EXPECT_FALSE(f.provider->lastSyncRebuilt());
  EXPECT_EQ(f.table().lookup(tcpKey(ipv4(10, 97, 0, 101)))->backendCount, 2u);
}

TEST(ServiceIndex, FullSyncBuildsANewIndexKeepingPortStates) {
  Fixture f;
  std::vector<ServicePort> ports = manyServices(10);
  f.sync(ports, namesOf(ports), true);
  const auto before = f.provider->portStates();
  f.sync(ports, {}, true);
  EXPECT_TRUE(f.provider->lastSyncRebuilt());
  EXPECT_EQ(f.provider->reusedPorts(), 10u);
  EXPECT_EQ(f.provider->portStates(), before) << "a full sync keeps the Maglev tables of unchanged ports";
  EXPECT_EQ(f.table().frontendCount(), 10u);
}

// A reader thread plays a worker: it loads the published table, looks up the frontends
// of a service that never changes and of one whose endpoints change every round, and
// reads their backends, then reports quiescent, while the control thread also adds and
// removes other services, in place and with full rebuilds. Both frontends must be
// found every time, with a backend set of the old or the new state, never another.
TEST(ServiceIndex, ReaderNeverMissesAnUnchangedFrontendDuringAnUpdateStorm) {
  Fixture f;
  const ServicePort keep = makePort("keep", kKeepVip, 80, threeBackends());
  ServicePort flip = makePort("flip", kKeepVip + 1, 80, threeBackends());
  std::vector<ServicePort> churn = manyServices(40);
  f.sync({keep, flip}, {keep.name, flip.name}, true);

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> lookups{0}, misses{0}, wrong{0};
  std::thread reader([&] {
    rte_rcu_qsbr_thread_register(f.plane.qsbr, 0);
    rte_rcu_qsbr_thread_online(f.plane.qsbr, 0);
    const ServiceKey keys[] = {tcpKey(kKeepVip), tcpKey(kKeepVip + 1)};
    while (!stop.load(std::memory_order_relaxed)) {
      const FastServiceTable* table = f.plane.services.load(std::memory_order_acquire);
      for (const ServiceKey& key : keys) {
        const ServiceEntry* entry = table->lookup(key);
        if (entry == nullptr) {
          misses.fetch_add(1, std::memory_order_relaxed);
        } else if ((entry->backendCount != 3 && entry->backendCount != 4) ||
                   table->backend(*entry, entry->maglev[lookups % entry->maglevSize]).port !=
                       rte_cpu_to_be_16(8080)) {
          wrong.fetch_add(1, std::memory_order_relaxed);
        }
        lookups.fetch_add(1, std::memory_order_relaxed);
      }
      rte_rcu_qsbr_quiescent(f.plane.qsbr, 0);
    }
    rte_rcu_qsbr_thread_offline(f.plane.qsbr, 0);
    rte_rcu_qsbr_thread_unregister(f.plane.qsbr, 0);
  });
  for (int round = 0; round < 300; ++round) {
    flip.endpoints = threeBackends();
    if (round % 2 == 0) flip.endpoints.push_back(makeEndpoint(kMovedBackend, 8080));
    std::vector<ServicePort> ports{keep, flip};
    ChangedPorts changed{flip.name};
    for (size_t i = 0; i < churn.size(); ++i) {
      // Each round adds or removes a different mix of the churning services.
      if ((i + static_cast<size_t>(round)) % 3 != 0) ports.push_back(churn[i]);
      changed.insert(churn[i].name);
    }
    f.sync(ports, changed, round % 50 == 49);
  }
  stop = true;
  reader.join();
  EXPECT_GT(lookups.load(), 0u);
  EXPECT_EQ(misses.load(), 0u) << "of " << lookups.load() << " lookups";
  EXPECT_EQ(wrong.load(), 0u);
}

}  // namespace
}  // namespace nicproxy::testing

// Schedulers, ClientIP affinity across workers and incremental table updates, through
// processBurst() with two worker contexts sharing one published table.
// Test addresses (see harness.hpp): clients 10.50.0.100 (and 10.50.0.100-163 for the
// affinity test), "multi" 10.96.0.30:80 -> 10.50.0.11-13:8080; "sticky" 10.96.0.60:80
// -> 10.50.0.11-13:8080 (ClientIP, 10 s), later 10.50.0.11-30:8080 (records shared by the workers); "svc-N" 10.97.0.N:80.
//   Schedulers.MaglevSpreadsEvenlyAndAgreesAcrossWorkers
//   Schedulers.RoundRobinAnnotationCyclesInOrder
//   Schedulers.RandomDefaultUsesEveryBackend
//   Schedulers.UnknownAnnotationFallsBackToTheDefault
//   Affinity.SameEndpointOnEveryWorkerUntilTheTimeout
//   IncrementalSync.OneChangedServiceRebuildsOnlyItself
//   IncrementalSync.RemovingOneOfTenEndpointsMovesOnlyItsConnections  "ten" 10.96.0.70:80 ->
//                                               10.50.0.21-30:8080; 10.50.0.25 removed
#include <map>
#include <set>

#include <gtest/gtest.h>
#include <rte_byteorder.h>

#include "tests/dpdk/harness.hpp"
#include "tests/dpdk/packets.hpp"
#include "tests/dpdk/services.hpp"

namespace nicproxy::testing {
namespace {

constexpr uint32_t kStickyVip = ipv4(10, 96, 0, 60);

/// The backend each SYN went to, one per frame, in order (0 when nothing was sent).
std::vector<uint32_t> backendsOf(const std::vector<Sent>& sent) {
  std::vector<uint32_t> result;
  for (const Sent& s : sent) result.push_back(destinationIpOf(s.frame));
  return result;
}

/// Sends SYNs from client ports first..first+count-1 to vip:80 on `worker`, in bursts.
std::vector<uint32_t> synsFromPorts(Harness& h, uint32_t vip, uint16_t first, uint16_t count, uint16_t worker = 0,
                                    uint32_t client = kClientIp) {
  std::vector<uint32_t> result;
  for (uint16_t done = 0; done < count;) {
    std::vector<Bytes> frames;
    for (; done < count && frames.size() < 32; ++done) {
      TcpFrame f = clientTcp(vip, 80, static_cast<uint16_t>(first + done));
      f.ip.source = client;
      frames.push_back(f.build());
    }
    const auto sent = backendsOf(h.run(frames, 0, worker));
    EXPECT_EQ(sent.size(), frames.size());
    result.insert(result.end(), sent.begin(), sent.end());
  }
  return result;
}

TEST(Schedulers, MaglevSpreadsEvenlyAndAgreesAcrossWorkers) {
  Harness::Options options;
  options.workerCount = 2;
  options.allWorkers = true;
  options.flowCapacity = 4096;
  Harness h(options);
  const uint16_t n = 1500;
  const auto onWorker0 = synsFromPorts(h, kMultiVip, 10000, n, 0);
  const auto onWorker1 = synsFromPorts(h, kMultiVip, 10000, n, 1);
  ASSERT_EQ(onWorker0.size(), n);
  EXPECT_EQ(onWorker0, onWorker1) << "Maglev is a function of the 5-tuple: both workers choose alike";
  std::map<uint32_t, int> counts;
  for (uint32_t b : onWorker0) ++counts[b];
  EXPECT_EQ(counts.size(), 3u);
  EXPECT_EQ(counts.count(kNotReadyBackendIp), 0u);
  for (const auto& [backend, count] : counts) EXPECT_NEAR(count / double{n}, 1.0 / 3, 0.06) << backend;
}

TEST(Schedulers, RoundRobinAnnotationCyclesInOrder) {
  Harness h;
  ServicePort rr = makePort("rr", kStickyVip, 80,
                            {makeEndpoint(kBackendIp, 8080), makeEndpoint(kBackend2Ip, 8080),
                             makeEndpoint(kBackend3Ip, 8080)});
  rr.scheduler = "roundrobin";
  h.sync(withPorts(standardServices(), {rr}));
  EXPECT_EQ(synsFromPorts(h, kStickyVip, 20000, 7),
            (std::vector<uint32_t>{kBackendIp, kBackend2Ip, kBackend3Ip, kBackendIp, kBackend2Ip, kBackend3Ip,
                                   kBackendIp}));
}

TEST(Schedulers, RandomDefaultUsesEveryBackend) {
  Harness::Options options;
  options.scheduler = Scheduler::Random;
  Harness h(options);
  const auto chosen = synsFromPorts(h, kMultiVip, 10000, 300);
  EXPECT_EQ(std::set<uint32_t>(chosen.begin(), chosen.end()),
            (std::set<uint32_t>{kBackendIp, kBackend2Ip, kBackend3Ip}));
  EXPECT_EQ(h.provider().portStates().begin()->second->scheduler, Scheduler::Random);
}

TEST(Schedulers, UnknownAnnotationFallsBackToTheDefault) {
  Harness h;
  ServicePort odd = makePort("odd", kStickyVip, 80, {makeEndpoint(kBackendIp, 8080)});
  odd.scheduler = "wlc";
  h.sync(withPorts(standardServices(), {odd}));
  const auto& states = h.provider().portStates();
  const auto it = states.find(odd.name);
  ASSERT_NE(it, states.end());
  EXPECT_EQ(it->second->scheduler, Scheduler::Maglev);
  EXPECT_EQ(synsFromPorts(h, kStickyVip, 20000, 1), std::vector<uint32_t>{kBackendIp});
}

TEST(Affinity, SameEndpointOnEveryWorkerUntilTheTimeout) {
  Harness::Options options;
  options.workerCount = 2;
  options.allWorkers = true;
  options.flowCapacity = 8192;
  Harness h(options);
  std::vector<Endpoint> three{makeEndpoint(kBackendIp, 8080), makeEndpoint(kBackend2Ip, 8080),
                              makeEndpoint(kBackend3Ip, 8080)};
  ServicePort sticky = makePort("sticky", kStickyVip, 80, three);
  sticky.sessionAffinity = SessionAffinity::ClientIP;
  sticky.stickyMaxAgeSeconds = 10;
  h.sync(withPorts(standardServices(), {sticky}));

  const uint64_t t0 = h.now();
  constexpr uint32_t kClients = 64;
  std::map<uint32_t, uint32_t> first;  // client -> endpoint
  std::set<uint32_t> used;
  for (uint32_t c = 0; c < kClients; ++c) {
    const uint32_t client = kClientIp + c;
    // Ten connections from different source ports on worker 0, ten on worker 1.
    const auto a = synsFromPorts(h, kStickyVip, 30000, 10, 0, client);
    const auto b = synsFromPorts(h, kStickyVip, 31000, 10, 1, client);
    ASSERT_EQ(std::set<uint32_t>(a.begin(), a.end()).size(), 1u) << "client " << c << " moved on worker 0";
    ASSERT_EQ(std::set<uint32_t>(b.begin(), b.end()), std::set<uint32_t>{a[0]}) << "client " << c << " differs on worker 1";
    first[client] = a[0];
    used.insert(a[0]);
  }
  EXPECT_EQ(used.size(), 3u) << "64 clients spread over the three endpoints";

  // Seventeen endpoints more: the hash would now send most clients elsewhere, but their
  // records keep them where they were until the timeout passes.
  std::vector<Endpoint> twenty = three;
  for (uint32_t i = 14; i <= 30; ++i) {
    twenty.push_back(makeEndpoint(ipv4(10, 50, 0, i), 8080));
    h.seedNeighbor(ipv4(10, 50, 0, i), Mac{2, 0, 0, 0, 0, static_cast<uint8_t>(i)});
  }
  sticky.endpoints = twenty;
  h.sync(withPorts(standardServices(), {sticky}));
  h.setNow(t0 + 5 * h.hz());
  for (uint32_t c = 0; c < kClients; ++c) {
    const uint32_t client = kClientIp + c;
    EXPECT_EQ(synsFromPorts(h, kStickyVip, 32000, 1, 0, client), std::vector<uint32_t>{first[client]});
    EXPECT_EQ(synsFromPorts(h, kStickyVip, 32000, 1, 1, client), std::vector<uint32_t>{first[client]})
        << "the shared record holds on the other worker too";
  }
  // 5 s later the records (refreshed at t0 + 5 s) still hold; 10 s after the last
  // connection they have expired: each client goes where the new table's hash says,
  // the same on both workers.
  h.setNow(t0 + 5 * h.hz() + 10 * h.hz() + 1);
  uint32_t moved = 0;
  for (uint32_t c = 0; c < kClients; ++c) {
    const uint32_t client = kClientIp + c;
    const auto a = synsFromPorts(h, kStickyVip, 33000, 1, 0, client);
    const auto b = synsFromPorts(h, kStickyVip, 33000, 1, 1, client);
    EXPECT_EQ(a, b) << "client " << c;
    moved += a[0] != first[client];
  }
  EXPECT_GT(moved, kClients / 2) << "after expiry most clients follow the new, larger endpoint set";
  EXPECT_GT(h.counters(0).affinityHits, 0u);
}

TEST(IncrementalSync, OneChangedServiceRebuildsOnlyItself) {
  Harness h;
  std::vector<ServicePort> many;
  for (uint32_t i = 1; i <= 50; ++i) {
    many.push_back(makePort("svc-" + std::to_string(i), ipv4(10, 97, 0, i), 80,
                            {makeEndpoint(kBackendIp, 8080), makeEndpoint(kBackend2Ip, 8080),
                             makeEndpoint(kBackend3Ip, 8080)}));
  }
  const ServiceTable before = withPorts(standardServices(), many);
  h.sync(before);
  const auto statesBefore = h.provider().portStates();
  many[7].endpoints.push_back(makeEndpoint(kFarBackendIp, 9090));
  h.sync(withPorts(before, {many[7]}));
  EXPECT_EQ(h.provider().builtPorts(), 1u);
  EXPECT_EQ(h.provider().reusedPorts(), statesBefore.size() - 1);
  for (const auto& [name, state] : h.provider().portStates()) {
    if (name == many[7].name) {
      EXPECT_NE(state, statesBefore.at(name));
      EXPECT_EQ(state->internal.maglev.size(), statesBefore.at(name)->internal.maglev.size())
          << "one endpoint more keeps the Maglev table size";
    } else {
      EXPECT_EQ(state, statesBefore.at(name)) << name.toString() << " was rebuilt";
    }
  }
  // The changed service uses its new endpoint.
  const auto chosen = synsFromPorts(h, ipv4(10, 97, 0, 8), 10000, 200);
  EXPECT_EQ(std::set<uint32_t>(chosen.begin(), chosen.end()),
            (std::set<uint32_t>{kBackendIp, kBackend2Ip, kBackend3Ip, kFarBackendIp}));
}

TEST(IncrementalSync, RemovingOneOfTenEndpointsMovesOnlyItsConnections) {
  Harness::Options options;
  options.flowCapacity = 4096;
  Harness h(options);
  constexpr uint32_t kTenVip = ipv4(10, 96, 0, 70);
  constexpr uint32_t kRemoved = ipv4(10, 50, 0, 25);
  std::vector<Endpoint> ten;
  for (uint8_t i = 21; i <= 30; ++i) {
    ten.push_back(makeEndpoint(ipv4(10, 50, 0, i), 8080));
    h.seedNeighbor(ipv4(10, 50, 0, i), Mac{2, 0, 0, 0, 1, i});
  }
  const ServiceTable before = withPorts(standardServices(), {makePort("ten", kTenVip, 80, ten)});
  h.sync(before);
  constexpr uint16_t kConnections = 2000;
  const auto first = synsFromPorts(h, kTenVip, 20000, kConnections);
  ASSERT_EQ(first.size(), kConnections);
  // The client resets every connection, so the next SYN from the same port is balanced
  // afresh by the Maglev table (the same 5-tuple hashes to the same slot).
  for (uint16_t done = 0; done < kConnections;) {
    std::vector<Bytes> frames;
    for (; done < kConnections && frames.size() < 32; ++done) {
      frames.push_back(clientTcp(kTenVip, 80, static_cast<uint16_t>(20000 + done), kTcpRst).build());
    }
    h.run(frames);
  }
  std::vector<Endpoint> nine = ten;
  std::erase_if(nine, [&](const Endpoint& e) { return e.address == kRemoved; });
  h.sync(withPorts(before, {makePort("ten", kTenVip, 80, nine)}));
  h.purge();
  const auto second = synsFromPorts(h, kTenVip, 20000, kConnections);
  ASSERT_EQ(second.size(), kConnections);
  size_t wereOnRemoved = 0;
  size_t moved = 0;
  for (size_t i = 0; i < kConnections; ++i) {
    EXPECT_NE(second[i], kRemoved);
    if (first[i] == kRemoved) {
      ++wereOnRemoved;
    } else {
      EXPECT_EQ(second[i], first[i]) << "client port " << 20000 + i << " was not on the removed endpoint but moved";
    }
    moved += second[i] != first[i];
  }
  EXPECT_GT(wereOnRemoved, kConnections / 20u) << "about 1/10 of the connections were on the removed endpoint";
  EXPECT_EQ(moved, wereOnRemoved) << "only the removed endpoint's connections move";
}

}  // namespace
}  // namespace nicproxy::testing

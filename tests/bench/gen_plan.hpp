#pragma once
// nicproxy-gen's address plan: who plays which address on the memif link, and the
// nicproxy configuration and services file that match it (`nicproxy-gen plan` writes
// them, scripts/bench_memif.sh runs them). All addresses in host order.
//
//   10.0.0.1/8          nicproxy's port (the SNAT address); MAC 02:00:00:00:00:01 by default
//   10.96.1.0 + s       bench service s: port 80, TCP and UDP, E endpoints each
//   10.1.0.1 + n % B    bench backends (B addresses), port 8080; permanent neighbours
//                       whose MAC is the generator's
//   10.96.0.100         the guarded service: the floods' target and the established
//                       flow's service; one endpoint,
//   10.2.0.1:8080       whose MAC nicproxy learns by ARP (the generator answers), so that
//                       ARP floods can disturb it
//   10.200.x.y          clients of flow f: 10.200.0.0 + 1 + f % 250, port 10000 + f / 250
//   10.201.0.1:40000    the established flow's client during floods; 10.201.0.2 opens the
//                       probe connections (new connections during a flood)
//   10.253.0.0 + i      testpmd flowgen's destinations (UDP 1000 -> 1001 from 10.254.0.0,
//                       fixed in testpmd 22.11): one service each, port 1001/UDP
//   10.200.255.1        testpmd txonly's source (its --tx-ip), to bench service 0's UDP port
// The generator plays every client and backend with one MAC (its memif port's).
#include <cstdint>
#include <string>

#include <rte_ether.h>

namespace nicproxy::bench {

inline constexpr uint32_t ipv4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return (uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | d;
}

struct GenPlan {
  uint32_t nodeAddress = ipv4(10, 0, 0, 1);
  uint8_t nodePrefix = 8;
  uint32_t services = 100;
  uint32_t endpoints = 4;
  uint32_t backendAddresses = 64;
  uint16_t servicePort = 80;
  uint16_t backendPort = 8080;

  static constexpr uint32_t kVipBase = ipv4(10, 96, 1, 0);
  static constexpr uint32_t kBackendBase = ipv4(10, 1, 0, 1);
  static constexpr uint32_t kGuardedVip = ipv4(10, 96, 0, 100);
  static constexpr uint32_t kGuardedBackend = ipv4(10, 2, 0, 1);
  static constexpr uint32_t kClientBase = ipv4(10, 200, 0, 0);
  static constexpr uint32_t kEstablishedClient = ipv4(10, 201, 0, 1);
  static constexpr uint16_t kEstablishedClientPort = 40000;
  static constexpr uint32_t kProbeClient = ipv4(10, 201, 0, 2);
  static constexpr uint32_t kFlowgenVipBase = ipv4(10, 253, 0, 0);
  static constexpr uint16_t kFlowgenPort = 1001;
  static constexpr uint32_t kTxonlySource = ipv4(10, 200, 255, 1);

  uint32_t vip(uint32_t service) const { return kVipBase + service; }
  uint32_t backend(uint32_t service, uint32_t endpoint) const {
    return kBackendBase + (service * endpoints + endpoint) % backendAddresses;
  }
  /// Flow f of the measured traffic: its client and service.
  uint32_t client(uint64_t flow) const { return kClientBase + 1 + static_cast<uint32_t>(flow % 250); }
  uint16_t clientPort(uint64_t flow) const { return static_cast<uint16_t>(10000 + flow / 250); }
  uint32_t serviceOf(uint64_t flow) const { return static_cast<uint32_t>(flow % services); }

  /// True for the addresses the generator plays (it answers ARP for them).
  bool isBackend(uint32_t address) const {
    return (address >= kBackendBase && address < kBackendBase + backendAddresses) || address == kGuardedBackend;
  }
  bool isClient(uint32_t address) const {
    return (address >> 16) == (kClientBase >> 16) || (address >> 16) == (kEstablishedClient >> 16);
  }
  bool isVip(uint32_t address) const {
    return (address >= kVipBase && address < kVipBase + services) || address == kGuardedVip;
  }
};

/// What `nicproxy-gen plan` needs beyond the plan itself.
struct PlanFiles {
  std::string directory;          // where nicproxy.json and services.json go
  std::string configName = "nicproxy.json";
  std::string device;             // nicproxy's vdev string (net_memif0,role=server,...)
  std::string lcores = "0@0,1@1";
  std::string filePrefix;
  std::string generatorMac;       // the backends' permanent neighbour MAC
  uint32_t flowTableSize = 262144;
  uint32_t flowgenFlows = 64;
};

/// Writes `directory`/services.json and `directory`/`configName`; throws on I/O errors.
void writePlan(const GenPlan& plan, const PlanFiles& files);

}  // namespace nicproxy::bench

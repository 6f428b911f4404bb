#pragma once
// nicproxy-bench's traffic: a synthetic cluster (services with cluster IPs and
// endpoints) and the frames that drive it, written into mbufs by a generator that runs
// outside the timed part of the benchmark.
//
// Addresses (host order): port 10.0.0.1/8 (MAC 02:00:00:00:00:01); service s has cluster
// IP 10.96.0.0 + s, port 80/TCP; endpoint i of service s is 10.1.0.0 + (s*E+i) % 1000,
// port 8000 + (s*E+i) / 1000 % 50000 (1000 distinct addresses, so the neighbour table
// holds them all); flow f comes from 10.200.0.0 + f / 50000, port 10000 + f % 50000,
// and goes to service f % S.
#include <cstdint>
#include <vector>

#include <rte_mbuf.h>

#include "control/model.hpp"

namespace nicproxy::bench {

inline constexpr uint32_t kPortAddress = 0x0a000001;    // 10.0.0.1
inline constexpr uint32_t kServiceBase = 0x0a600000;    // 10.96.0.0
inline constexpr uint32_t kBackendBase = 0x0a010000;    // 10.1.0.0
inline constexpr uint32_t kClientBase = 0x0ac80000;     // 10.200.0.0
inline constexpr uint32_t kBackendAddresses = 1000;
inline constexpr uint8_t kPortMac[6] = {0x02, 0, 0, 0, 0, 0x01};
inline constexpr uint8_t kClientMac[6] = {0x02, 0, 0, 0, 0, 0x64};

/// A fast pseudo-random step (xorshift64); `state` must not be 0.
inline uint64_t xorshift(uint64_t& state) {
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

/// S services of E endpoints each, port 80 of `protocol`.
ServiceTable makeServices(uint32_t services, uint32_t endpointsPerService, Protocol protocol = Protocol::Tcp);

/// The flow's 5-tuple (host order).
struct FlowTuple {
  uint32_t client;
  uint16_t clientPort;
  uint32_t vip;
};
inline FlowTuple flowTuple(uint64_t flow, uint32_t services) {
  return FlowTuple{kClientBase + static_cast<uint32_t>(flow / 50000), static_cast<uint16_t>(10000 + flow % 50000),
                   kServiceBase + static_cast<uint32_t>(flow % services)};
}

/// Sequence numbers of every bench connection: the client's and the backend's initial
/// ones. The handshake is SYN (kClientIsn), SYN-ACK (kBackendIsn, ack kClientIsn + 1),
/// ACK; data segments then carry seq kClientIsn + 1 and ack kBackendIsn + 1, so that a
/// data path that tracks TCP windows as conntrack does accepts them.
inline constexpr uint32_t kClientIsn = 1000;
inline constexpr uint32_t kBackendIsn = 5000;

/// Writes a TCP frame of `size` bytes (>= 54; 64 by default: 60 + FCS the NIC adds)
/// for `flow` into `m`, with TCP flags `flags`, the sequence numbers above for those
/// flags, and a valid IPv4 header checksum. A SYN carries no payload (the frame is padded
/// to 60 bytes); other segments carry whatever fills `size`.
void writeFrame(rte_mbuf* m, const FlowTuple& flow, uint8_t flags, uint16_t size);

/// Writes the backend's SYN-ACK for a flow whose reply key (as the flow table holds it:
/// backend -> SNAT address and port, network order) is given.
void writeSynAck(rte_mbuf* m, uint32_t backendBe, uint16_t backendPortBe, uint32_t snatAddressBe, uint16_t snatPortBe);

/// Writes a UDP datagram of `size` bytes for `flow` (destination port 80), for traffic
/// that needs no handshake.
void writeUdpFrame(rte_mbuf* m, const FlowTuple& flow, uint16_t size);

}  // namespace nicproxy::bench

#pragma once
// nicproxy-bench's traffic: a synthetic cluster (services with cluster IPs and
// endpoints) and the frames that drive it, written into mbufs by a generator that runs
// outside the timed part of the benchmark. Below them, frame writers of any shape (UDP,
// TCP with any flags, ARP) for nicproxy-gen, the memif traffic generator.
//
// Addresses (host order): port 10.0.0.1/8 (MAC 02:00:00:00:00:01); service s has cluster
// IP 10.96.0.0 + s, port 80/TCP; endpoint i of service s is 10.1.0.0 + (s*E+i) % 1000,
// port 8000 + (s*E+i) / 1000 % 50000 (1000 distinct addresses, so the neighbour table
// holds them all); flow f comes from 10.200.0.0 + f / 50000, port 10000 + f % 50000,
// and goes to service f % S.
#include <cstdint>
#include <vector>

#include <rte_ether.h>
#include <rte_ip.h>
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

// ---- Frames of any shape, for nicproxy-gen (tests/bench/memif_gen.cpp) ----

/// Both ends of a frame. Addresses and ports in host order.
struct FrameEnds {
  rte_ether_addr sourceMac;
  rte_ether_addr destinationMac;
  uint32_t source = 0;
  uint32_t destination = 0;
  uint16_t sourcePort = 0;
  uint16_t destinationPort = 0;
};

/// What nicproxy-gen writes at the start of the payload of the traffic it measures, so
/// that the receiving end knows the flow and trial without a lookup, and knows the frame
/// is one of its own (the magic). Flood frames carry one too where they have a payload.
struct __attribute__((packed)) GenMarker {
  uint16_t magic;  // kGenMagic, host order
  uint8_t kind;    // GenKind
  uint8_t trial;
  uint32_t flow;   // host order
};
inline constexpr uint16_t kGenMagic = 0x4e47;  // "NG"
enum GenKind : uint8_t { kGenRequest = 'Q', kGenAnswer = 'A', kGenFlood = 'F' };

/// Frame length without FCS for a frame size that counts it (64 -> 60), never below
/// `minimum` nor below Ethernet's 60.
uint16_t frameLengthFor(uint16_t sizeWithFcs, uint16_t minimum);

/// A UDP datagram filling a frame of `sizeWithFcs` bytes (at least 64), with `marker`
/// (if not null) at the start of its payload and no UDP checksum (RFC 768 allows none,
/// as testpmd's generators send). Valid IPv4 header checksum, TTL 64.
void writeUdp(rte_mbuf* m, const FrameEnds& ends, uint16_t sizeWithFcs, const GenMarker* marker);

/// A TCP segment with `payloadLength` bytes of payload (the marker first if not null; at
/// least sizeof(GenMarker) then), valid IPv4 and TCP checksums, window 65535, TTL 64.
void writeTcp(rte_mbuf* m, const FrameEnds& ends, uint8_t flags, uint32_t seq, uint32_t ack,
              uint16_t payloadLength, const GenMarker* marker);

/// An Ethernet + ARP frame (padded to 60 bytes). `senderIp` and `targetIp` in host order.
void writeArp(rte_mbuf* m, const rte_ether_addr& ethSource, const rte_ether_addr& ethDestination, uint16_t opcode,
              const rte_ether_addr& senderMac, uint32_t senderIp, const rte_ether_addr& targetMac, uint32_t targetIp);

/// Turns a received IPv4 TCP or UDP frame around in place, as an answering host would
/// address it: MACs (the new source is `ownMac`), addresses and ports swapped, TTL 64,
/// IP header checksum recomputed. The caller then edits the L4 header and payload and,
/// for TCP, calls setTcpChecksum.
void turnAround(rte_ether_hdr* eth, rte_ipv4_hdr* ip, const rte_ether_addr& ownMac);

/// Recomputes the TCP checksum of an IPv4 segment whose header and payload are in place.
void setTcpChecksum(rte_ipv4_hdr* ip);

}  // namespace nicproxy::bench

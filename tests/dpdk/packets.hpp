#pragma once
// Frames of the harness topology (harness.hpp): what a client or a backend sends, and
// the frame a NAT step should turn it into. The expected frame is the same spec with
// the translated fields, rebuilt from scratch (checksums included) by frames.cpp.
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <type_traits>
#include <variant>

#include <rte_byteorder.h>

#include "tests/dpdk/frames.hpp"
#include "tests/dpdk/harness.hpp"

namespace nicproxy::testing {

using L4Frame = std::variant<TcpFrame, UdpFrame>;

inline Bytes build(const L4Frame& frame, size_t padTo = 0) {
  Bytes bytes = std::visit([](const auto& f) { return f.build(); }, frame);
  if (bytes.size() < padTo) bytes.resize(padTo, 0);
  return bytes;
}

/// A TCP segment from the client (10.50.0.100, MAC ...:64) to `vip:port` on port 0.
inline TcpFrame clientTcp(uint32_t vip, uint16_t port, uint16_t clientPort = 40000, uint8_t flags = kTcpSyn) {
  TcpFrame f;
  f.eth = EthSpec{kPort0Mac, kClientMac};
  f.ip.source = kClientIp;
  f.ip.destination = vip;
  f.ip.tos = 0x10;
  f.ip.id = 0x4242;
  f.ip.ttl = 64;
  f.tcp.sourcePort = clientPort;
  f.tcp.destinationPort = port;
  f.tcp.seq = 0x11223344;
  f.tcp.flags = flags;
  return f;
}

/// A UDP datagram from the client to `vip:port` on port 0.
inline UdpFrame clientUdp(uint32_t vip, uint16_t port, uint16_t clientPort = 40000) {
  UdpFrame f;
  f.eth = EthSpec{kPort0Mac, kClientMac};
  f.ip.source = kClientIp;
  f.ip.destination = vip;
  f.ip.id = 0x4343;
  f.ip.ttl = 64;
  f.udp.sourcePort = clientPort;
  f.udp.destinationPort = port;
  f.udp.payload = {'q', 'u', 'e', 'r', 'y', '!', 0x00, 0x01, 0x00};
  return f;
}

/// `frame` after one NAT step: new Ethernet header, addresses and ports, TTL - 1;
/// everything else (ids, flags, sequence numbers, options, payload) unchanged.
inline L4Frame translated(L4Frame frame, const EthSpec& eth, uint32_t source, uint32_t destination,
                          uint16_t sourcePort, uint16_t destinationPort) {
  std::visit(
      [&](auto& f) {
        f.eth = eth;
        f.ip.source = source;
        f.ip.destination = destination;
        f.ip.ttl = static_cast<uint8_t>(f.ip.ttl - 1);
        if constexpr (std::is_same_v<std::decay_t<decltype(f)>, TcpFrame>) {
          f.tcp.sourcePort = sourcePort;
          f.tcp.destinationPort = destinationPort;
        } else {
          f.udp.sourcePort = sourcePort;
          f.udp.destinationPort = destinationPort;
        }
      },
      frame);
  return frame;
}

/// Who-has `target` from `sender` (at `senderMac`) on port 0's segment, padded to the
/// minimum frame.
inline ArpFrame arpRequest(uint32_t target, uint32_t sender = kClientIp, const Mac& senderMac = kClientMac) {
  ArpFrame f;
  f.eth = EthSpec{kBroadcast, senderMac};
  f.opcode = 1;
  f.senderMac = senderMac;
  f.senderIp = sender;
  f.targetMac = kZeroMac;
  f.targetIp = target;
  f.padTo = 60;
  return f;
}

/// The MAC the harness's neighbour table holds for `address`, if it is resolved.
inline std::optional<Mac> neighborMac(Harness& h, uint32_t address) {
  rte_ether_addr mac;
  if (!h.plane().neighbors.lookup(rte_cpu_to_be_32(address), mac)) return std::nullopt;
  Mac out;
  std::memcpy(out.data(), mac.addr_bytes, 6);
  return out;
}

/// The L4 source port of an Ethernet + IPv4 + TCP/UDP frame (the SNAT port on the
/// backend side).
inline uint16_t sourcePortOf(const Bytes& frame) { return read16(frame, l4Offset(frame)); }
inline uint32_t destinationIpOf(const Bytes& frame) { return read32(frame, kEthLength + 16); }

}  // namespace nicproxy::testing
